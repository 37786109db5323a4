import numpy as np
from click.testing import CliRunner
from PIL import Image

from suite import __version__
from suite.cli import main


def test_version():
    r = CliRunner().invoke(main, ["--version"])
    assert r.exit_code == 0 and __version__ in r.output


def test_help_lists_commands():
    r = CliRunner().invoke(main, ["--help"])
    assert r.exit_code == 0
    assert "backbones" in r.output and "features" in r.output


def test_backbones_table(monkeypatch):
    from suite.common.ui import progress

    monkeypatch.setattr(progress.console, "width", 160)
    r = CliRunner().invoke(main, ["backbones"])
    assert r.exit_code == 0, r.output
    for name in ("vgg16", "vgg19", "mobilenetv2", "block4_conv3", "out_relu"):
        assert name in r.output


def test_features_grid(tmp_path):
    img = np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "in.png")
    out = tmp_path / "grid.png"
    args = [
        "features",
        str(tmp_path / "in.png"),
        "--layer",
        "block1_conv2",
        "--size",
        "48",
        "--weights",
        "none",
        "--max-maps",
        "16",
        "-o",
        str(out),
        "--device",
        "cpu",
    ]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    grid = Image.open(out)
    assert grid.size[0] > 100 and grid.mode == "RGB"
    r = CliRunner().invoke(main, args)  # refuses to overwrite, one line, no traceback
    assert r.exit_code != 0 and "--overwrite" in r.output and "Traceback" not in r.output


def test_unknown_backbone_and_layer_are_clear(tmp_path):
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "in.png")
    r = CliRunner().invoke(main, ["features", str(tmp_path / "in.png"), "--backbone", "nope"])
    assert r.exit_code == 2 and "vgg16" in r.output
    r = CliRunner().invoke(
        main,
        ["features", str(tmp_path / "in.png"), "--layer", "nope", "--weights", "none", "-o", str(tmp_path / "g.png")],
    )
    assert r.exit_code == 1 and "Valid layers" in r.output and "Traceback" not in r.output


def test_bad_image_is_one_line(tmp_path):
    (tmp_path / "bad.jpg").write_text("nope")
    r = CliRunner().invoke(main, ["features", str(tmp_path / "bad.jpg"), "-o", str(tmp_path / "g.png")])
    assert r.exit_code == 1 and "bad.jpg" in r.output and "Traceback" not in r.output


def test_features_never_writes_over_its_input_image(tmp_path):
    src = tmp_path / "photo.png"
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(src)
    before = src.read_bytes()
    r = CliRunner().invoke(main, ["features", str(src), "--weights", "none", "-o", str(src), "--overwrite"])
    assert r.exit_code == 2 and "is the input image" in r.output, r.output
    assert src.read_bytes() == before


def test_stylize_names_a_video_input_a_video(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not read: the output check comes first")
    art = tmp_path / "art.png"
    Image.fromarray(np.full((16, 16, 3), 40, np.uint8)).save(art)
    r = CliRunner().invoke(main, ["stylize", str(clip), "--style", str(art), "--method", "fast", "-o", str(clip)])
    assert r.exit_code == 2 and "is the video input" in r.output, r.output


# --------------------------------------------------------------------------- --json on a failed run


def _one_failure_object(r):
    """stdout is exactly one JSON object saying the run failed; the human one-line error is on stderr."""
    import json

    data = json.loads(r.stdout)
    assert data["ok"] is False and data["error"] and "\n" not in data["error"], data
    assert data["error"] in r.stderr, (data, r.stderr)
    return data


def test_json_on_a_failed_run_is_one_object(tmp_path):
    from tests.helpers import tiny_segmenter

    model = tiny_segmenter(3, down=1, path=tmp_path / "m.keras")
    (tmp_path / "empty").mkdir()
    r = CliRunner().invoke(
        main, ["segment", str(tmp_path / "empty"), "-m", str(model), "-o", str(tmp_path / "o"), "--json"]
    )
    assert r.exit_code == 1
    assert "no images found" in _one_failure_object(r)["error"]


def test_json_on_a_refused_option_and_a_bad_option_value(tmp_path):
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "in.png")
    # Refused by the command (a usage error): Click's usage message stays on stderr.
    r = CliRunner().invoke(main, ["stylize", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"), "--json"])
    assert r.exit_code == 2 and "Usage:" in r.stderr
    assert "--style" in _one_failure_object(r)["error"]
    # A value Click refuses, given after --json or before it.
    for args in (["--json", "--size", "0"], ["--size", "0", "--json"]):
        r = CliRunner().invoke(main, ["stylize", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"), *args])
        assert r.exit_code == 2
        assert "--size" in _one_failure_object(r)["error"]
    # Without --json nothing changes: stdout stays empty.
    r = CliRunner().invoke(main, ["stylize", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png")])
    assert r.exit_code == 2 and r.stdout == ""


def test_json_on_an_interrupted_run(tmp_path, monkeypatch):
    import suite.unet.segment

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(suite.unet.segment, "segment_folder", interrupted)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "in.png")
    r = CliRunner().invoke(
        main, ["segment", str(tmp_path / "in.png"), "-m", "person", "-o", str(tmp_path / "o"), "--json"]
    )
    assert r.exit_code == 130
    data = _one_failure_object(r)
    assert data["interrupted"] == "interrupted" and data["error"].startswith("Interrupted.")
