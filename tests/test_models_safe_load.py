import numpy as np
import pytest

from suite.common.nn.saving import ModelLoadError, load_model


def test_lambda_model_is_refused(tmp_path):
    import keras

    inp = keras.Input((4,))
    out = keras.layers.Lambda(lambda t: t * 2)(inp)
    path = tmp_path / "evil.keras"
    keras.Model(inp, out).save(path)
    with pytest.raises(ModelLoadError, match="Lambda") as e:
        load_model(path)
    assert "\n" not in str(e.value)


def test_plain_model_loads(tmp_path):
    import keras

    inp = keras.Input((None, None, 3))
    out = keras.layers.Conv2D(2, 1)(inp)
    m = keras.Model(inp, out)
    m.save(tmp_path / "ok.keras")
    again = load_model(tmp_path / "ok.keras")
    x = np.ones((1, 4, 4, 3), "float32")
    np.testing.assert_allclose(np.asarray(m(x)), np.asarray(again(x)))


@pytest.mark.parametrize(
    "name,content,reason",
    [("none.keras", None, "not found"), ("bad.keras", b"junk", "corrupt"), ("m.h5", b"junk", "expected a .keras")],
)
def test_bad_model_files(tmp_path, name, content, reason):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(ModelLoadError, match=reason):
        load_model(tmp_path / name)


def _run_fresh(code: str) -> str:
    """Runs ``code`` in a new Python process (nothing of the suite imported yet) at the repository root; its stdout."""
    import os
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_task_package_registers_its_classes_for_load_model():
    """Common code names no task: ``import suite.unet`` registers the U-Net's modules with load_model."""
    stdout = _run_fresh("""
        import numpy as np
        from suite.common.nn.saving import ModelLoadError, load_model
        try:
            load_model("assets/demo_unet.keras")
        except ModelLoadError as e:
            assert "\\n" not in str(e) and "UNet of suite.unet.model is not registered" in str(e), str(e)
        else:
            raise AssertionError("loaded a U-Net without its package")
        import suite.unet
        model = load_model("assets/demo_unet.keras")
        print(type(model).__name__, np.asarray(model(np.zeros((1, 32, 32, 3), "float32"))).shape)
    """)
    assert stdout.strip().endswith("UNet (1, 32, 32, 5)")


def test_style_package_registers_its_layers_for_load_model(tmp_path):
    """``import suite.style`` registers the fast-style layers: a model holding one loads through load_model."""
    import keras

    from suite.style.fast_models import ConditionalInstanceNorm

    x = keras.Input((None, None, 3))
    style = keras.Input((3,))
    model = keras.Model([x, style], ConditionalInstanceNorm(name="cin")([x, style, style]))
    path = tmp_path / "cin.keras"
    model.save(path)
    stdout = _run_fresh(f"""
        import numpy as np
        from suite.common.nn.saving import ModelLoadError, load_model
        try:
            load_model({str(path)!r})
        except ModelLoadError as e:
            assert "\\n" not in str(e), str(e)  # Keras names the model here, not the layer inside it
        else:
            raise AssertionError("loaded a fast-style layer without its package")
        import suite.style
        model = load_model({str(path)!r})
        y = model([np.random.default_rng(0).normal(size=(1, 4, 5, 3)).astype("float32"), np.ones((1, 3), "float32")])
        print(type(model.get_layer("cin")).__name__, np.asarray(y).shape)
    """)
    assert stdout.strip().endswith("ConditionalInstanceNorm (1, 4, 5, 3)")
