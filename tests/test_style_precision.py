"""bfloat16 convolutions in the Gatys feature network: the policy rule, the converted extractor, the loss."""

import keras
import numpy as np
import pytest

from suite.style.extractor import BF16_POLICY, build_style_extractor, feature_dtype, with_dtype_policy


@pytest.fixture
def bf16_cpu(monkeypatch):
    """Pretend the CPU has bfloat16 instructions (bfloat16 runs everywhere, only slower without them)."""
    import suite.common.device as device

    monkeypatch.setattr(device, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(device, "gpu_names", lambda: [])


def _pixels(seed, size=32):
    return np.random.default_rng(seed).uniform(0, 255, (size, size, 3)).astype(np.float32)


def test_feature_dtype_is_bfloat16_on_a_bf16_cpu_and_float32_when_refused(bf16_cpu):
    import keras

    assert feature_dtype(False) == "float32"
    if keras.backend.backend() == "tensorflow":
        assert feature_dtype(None) == BF16_POLICY
        assert feature_dtype(True) == BF16_POLICY


def test_feature_dtype_is_float32_without_bf16_instructions(monkeypatch):
    import suite.common.device as device

    monkeypatch.setattr(device, "cpu_has_bf16", lambda: False)
    assert feature_dtype(None) == "float32"


@pytest.mark.parametrize("bf16", [True, False])
def test_feature_and_transformer_dtypes_share_one_rule_and_differ_only_in_the_fallback(monkeypatch, bf16):
    import suite.common.device as device
    from suite.common.device import auto_bf16_dtype
    from suite.style.fast import transformer_dtype

    monkeypatch.setattr(device, "cpu_has_bf16", lambda: bf16)
    monkeypatch.setattr(device, "gpu_names", lambda: [])
    for mp in (None, True, False):
        assert feature_dtype(mp) == auto_bf16_dtype(mp, "float32")
        assert transformer_dtype(mp) == auto_bf16_dtype(mp, None)
    applies = bf16 and keras.backend.backend() == "tensorflow"
    assert auto_bf16_dtype(None, "x") == (BF16_POLICY if applies else "x")
    assert auto_bf16_dtype(False, None) == "float32"
    monkeypatch.setattr(device, "gpu_names", lambda: ["/GPU:0"])
    assert auto_bf16_dtype(None, None) is None  # no bfloat16 while a GPU is in use, without a mixed policy


def test_with_dtype_policy_keeps_weights_and_preprocessing_and_casts_the_convolutions():
    from suite.common.nn.layers import ImagePreprocessing

    ex = build_style_extractor("vgg16", weights="none", quiet=True)
    bf = with_dtype_policy(ex, BF16_POLICY)
    assert with_dtype_policy(ex, "float32") is ex
    assert with_dtype_policy(bf, BF16_POLICY) is bf
    for layer in bf.layers:
        if isinstance(layer, ImagePreprocessing):
            assert layer.dtype_policy.name == "float32"
        elif layer.weights:
            assert layer.dtype_policy.name == BF16_POLICY
            assert all(str(w.dtype) == "float32" for w in layer.weights)  # float32 kernels, bf16 compute
    for a, b in zip(ex.get_weights(), bf.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = _pixels(0)[None]
    f32, b16 = ex(x), bf(x)
    for name in f32:
        ref = np.asarray(f32[name], np.float32)
        got = np.asarray(b16[name], np.float32)
        assert keras.backend.standardize_dtype(b16[name].dtype) == "bfloat16"
        assert np.linalg.norm(got - ref) <= 0.05 * np.linalg.norm(ref) + 1e-6


def test_bfloat16_objective_is_finite_and_close_to_float32(bf16_cpu):
    from suite.style.transfer import StyleTransfer

    content, style = _pixels(1), _pixels(2)
    ex = build_style_extractor("vgg16", weights="none", quiet=True)
    kw = dict(extractor=ex, size=32, scales=[1.0], quiet=True)
    # One evaluation: the losses of the starting image (the photo) under each network.
    f32 = StyleTransfer(style, mixed_precision=False, iterations=[1], **kw).transfer(content).losses
    b16 = StyleTransfer(style, mixed_precision=True, iterations=[1], **kw).transfer(content).losses
    for term in ("total", "style", "tv"):
        assert np.isfinite(b16[term])
        assert b16[term] == pytest.approx(f32[term], rel=0.03)
    # A few L-BFGS evaluations through the bfloat16 network lower the loss and keep the pixels float32.
    result = StyleTransfer(style, mixed_precision=True, iterations=[8], **kw).transfer(content)
    assert result.image.dtype == np.float32
    assert np.isfinite(result.losses["total"]) and result.losses["total"] < b16["total"]


def _run_suite(*args, cwd):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "suite", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_the_sidecar_and_json_record_the_feature_precision_read_back_in_a_fresh_process(tmp_path):
    """`suite stylize` (a process of its own, which picks the precision as users get it) records the feature
    network's precision in --json and in the sidecar, and a new process reads the same back."""
    import json
    import sys

    from PIL import Image

    from suite.common.device import cpu_has_bf16, gpu_names

    rng = np.random.default_rng(0)
    for name in ("photo.png", "art.png"):
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(tmp_path / name)
    tiny = ["--size", "32", "--scales", "1", "--iterations", "2", "--backbone", "vgg16", "--weights", "none"]
    auto = "bfloat16" if cpu_has_bf16() and keras.backend.backend() == "tensorflow" and not gpu_names() else "float32"
    for flag, expected in (([], auto), (["--no-mixed-precision"], "float32")):
        out = tmp_path / f"out_{expected}.png"
        r = _run_suite(
            "stylize",
            "photo.png",
            "--style",
            "art.png",
            "-o",
            out.name,
            "--json",
            "--no-progress",
            *tiny,
            *flag,
            cwd=tmp_path,
        )
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["feature_dtype"] == expected
        reader = (
            "import json, sys; s = json.load(open(sys.argv[1])); "
            "print(json.dumps([s['feature_dtype'], s['losses_note'], sorted(s['losses'])]))"
        )
        import subprocess

        back = subprocess.run(
            [sys.executable, "-c", reader, str(out) + ".json"], capture_output=True, text=True, timeout=60
        )
        assert back.returncode == 0, back.stderr
        dtype, note, terms = json.loads(back.stdout)
        assert dtype == expected
        assert f"{expected} feature network" in note and "as optimized" in note
        assert terms == ["content", "style", "total", "tv"]
