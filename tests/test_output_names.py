"""An output name the suite cannot write is refused when the command line is parsed, before any work,
with a usage error that names the option and the extensions it can write."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from suite.cli import main
from tests.helpers import write_random_image


@pytest.fixture
def files(tmp_path):
    """An empty images folder (so any real work would fail differently), a photo and a model path."""
    (tmp_path / "images").mkdir()
    photo = tmp_path / "photo.png"
    write_random_image(photo)
    model = tmp_path / "m.keras"
    model.write_bytes(b"not read: the output is refused first")
    return tmp_path, photo, model


def _cases(tmp, photo, model):
    images = str(tmp / "images")
    return [
        (
            ["train", "--images", images, "--masks", images, "--num-classes", "2", "-o", str(tmp / "model.h5")],
            "'-o' / '--output'",
            ".keras",
        ),
        (
            ["train", "--images", images, "--masks", images, "--num-classes", "2", "-o", str(tmp / "model")],
            "'-o' / '--output'",
            ".keras",
        ),
        (["segment", str(photo), "--model", str(model), "-o", str(tmp / "mask.png")], "'-o/--output'", "folder"),
        (
            [
                "segment",
                str(photo),
                "--model",
                str(model),
                "-o",
                str(tmp / "out"),
                "--runner",
                "beam",
                "--dead-letter",
                str(tmp / "dead.csv"),
            ],
            "'--dead-letter'",
            ".jsonl, .json",
        ),
        (["stylize", str(photo), "--style", str(photo), "-o", str(tmp / "out.gif")], "'-o/--output'", ".png"),
        (["stylize", str(photo), "--style", str(photo), "-o", str(tmp / "out.h5")], "'-o/--output'", ".jpg"),
        (["export", "--model", str(model), "--format", "onnx", "-o", str(tmp / "m.tflite")], "'-o/--output'", ".onnx"),
        (
            ["export", "--model", str(model), "--format", "litert", "-o", str(tmp / "m.onnx")],
            "'-o/--output'",
            ".tflite",
        ),
        (
            ["export", "--model", str(model), "--format", "saved_model", "-o", str(tmp / "m.keras")],
            "'-o/--output'",
            "folder",
        ),
        (
            ["evaluate", "--model", str(model), "--images", images, "--masks", images, "-o", str(tmp / "scores.txt")],
            "'-o' / '--output'",
            ".json",
        ),
        (["features", str(photo), "-o", str(tmp / "grid.gif")], "'-o' / '--output'", ".png, .bmp"),
    ]


@pytest.mark.parametrize("case", range(11))
def test_unwritable_output_name_is_a_usage_error_before_any_work(files, case):
    tmp, photo, model = files
    args, option, accepted = _cases(tmp, photo, model)[case]
    before = sorted(p.name for p in tmp.rglob("*"))
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    message = result.output.strip().splitlines()[-1]
    assert message.startswith("Error: Invalid value for"), result.output
    assert option in message and accepted in message, message
    assert sorted(p.name for p in tmp.rglob("*")) == before  # nothing written, not even a log folder


def test_writable_names_still_parse(files):
    """The names each command writes get past the check (and fail later, on the data, not on the name)."""
    tmp, photo, model = files
    images = str(tmp / "images")
    for args in (
        ["train", "--images", images, "--masks", images, "--num-classes", "2", "-o", str(tmp / "model.keras")],
        ["evaluate", "--model", str(model), "--images", images, "--masks", images, "-o", str(tmp / "r.json")],
        ["segment", str(photo), "--model", str(model), "-o", str(tmp / "masks.v1")],
    ):
        result = CliRunner().invoke(main, args)
        assert "Invalid value for" not in result.output, result.output


def test_train_function_refuses_an_out_that_is_not_keras(tmp_path):
    from suite.unet.training import train

    (tmp_path / "images").mkdir()
    with pytest.raises(ValueError, match=r"out must name a \.keras file.*model\.h5"):
        train(tmp_path / "images", tmp_path / "images", 2, out=tmp_path / "model.h5", backbone=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images"]
