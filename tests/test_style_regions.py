"""Segmentation-guided style transfer: masks from a model, one style per class, feathered edges."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
ASTRONAUT = ROOT / "assets" / "photos" / "astronaut.jpg"


def test_parse_class_styles():
    from suite.style.regions import parse_class_styles

    assert parse_class_styles("background=b.jpg, person=a.jpg") == [("background", "b.jpg"), ("person", "a.jpg")]
    for bad in ["person", "=a.jpg", "person=", "a=x.jpg,a=y.jpg", ","]:
        with pytest.raises(ValueError):
            parse_class_styles(bad)


def test_feathered_masks_have_no_gap_and_no_seam():
    from suite.style.regions import feather_probabilities

    hard = np.zeros((64, 96, 3), np.float32)
    hard[:, :40, 0] = 1.0
    hard[:, 40:70, 1] = 1.0
    hard[:, 70:, 2] = 1.0
    soft = feather_probabilities(hard, feather=0.03)  # sigma ~2.9 px
    np.testing.assert_allclose(soft.sum(-1), 1.0, atol=1e-5)  # no gap: every pixel fully styled
    step = np.abs(np.diff(soft, axis=1)).max()
    assert step < 0.2, step  # no seam: no jump between neighbouring pixels (the hard masks jump by 1)
    assert soft[:, :30, 0].min() > 0.99 and soft[:, 80:, 2].min() > 0.99  # away from edges, unchanged
    assert np.abs(np.diff(feather_probabilities(hard, 0.0), axis=1)).max() == 1.0  # feather 0 keeps the edge


def test_region_masks_from_person_preset():
    from suite.common.io.images import load_image
    from suite.style.regions import region_masks

    a, b = ROOT / "assets" / "styles" / "swirls.jpg", ROOT / "assets" / "styles" / "mosaic.jpg"
    files, regions = region_masks("person", [], [("background", b), ("person", a)])
    assert files == [b, a]
    masks = regions(load_image(ASTRONAUT))
    assert [m.shape for m in masks] == [(512, 512), (512, 512)]
    np.testing.assert_allclose(masks[0] + masks[1], 1.0, atol=1e-5)
    assert 0.45 < masks[1].mean() < 0.65  # the astronaut
    assert masks[1][90:170, 180:260].mean() > 0.95 and masks[1][:60, 440:].mean() < 0.05  # face / top-right corner
    assert regions.describe()["style_classes"] == [["background"], ["person"]]
    with pytest.raises(ValueError, match="background, person"):
        region_masks("person", [a], None)  # two classes, one style
    with pytest.raises(ValueError, match="not one of"):
        region_masks("person", [], [("sky", a)])


def test_stylize_cli_mask_from_usage_errors(tmp_path):
    from click.testing import CliRunner

    from suite.cli import main

    style = str(ROOT / "assets" / "styles" / "mosaic.jpg")
    out = str(tmp_path / "o.png")
    runner = CliRunner()
    r = runner.invoke(main, ["stylize", str(ASTRONAUT), "-o", out])
    assert r.exit_code == 2 and "--style" in r.output
    r = runner.invoke(main, ["stylize", str(ASTRONAUT), "-o", out, "--class-style", f"person={style}"])
    assert r.exit_code == 2 and "--mask-from" in r.output
    r = runner.invoke(main, ["stylize", str(ASTRONAUT), "-o", out, "--mask-from", "person", "--style", style])
    assert r.exit_code == 2 and "one --style per class" in r.output
    r = runner.invoke(
        main, ["stylize", str(ASTRONAUT), "-o", out, "--mask-from", "person", "--class-style", "person=nope.jpg"]
    )
    assert r.exit_code == 2 and "nope.jpg" in r.output
    assert not Path(out).exists()


@pytest.mark.slow
def test_each_style_lands_on_its_class(tmp_path):
    """Red paints the person and blue the background; a swapped mapping swaps them."""
    from click.testing import CliRunner

    from suite.cli import main
    from suite.common.io.images import load_image
    from suite.style.regions import region_masks

    rng = np.random.default_rng(0)
    red = np.clip(rng.normal([200, 30, 30], 25, (64, 64, 3)), 0, 255).astype(np.uint8)
    blue = np.clip(rng.normal([30, 30, 200], 25, (64, 64, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(red).save(tmp_path / "red.png")
    Image.fromarray(blue).save(tmp_path / "blue.png")
    photo = tmp_path / "astronaut.jpg"
    Image.open(ASTRONAUT).resize((96, 96), Image.LANCZOS).save(photo)
    _, regions = region_masks("person", [], [("background", tmp_path / "blue.png")])
    person = regions.probabilities(load_image(photo))[..., 1]
    inside, outside = person > 0.9, person < 0.1
    args = [
        "stylize",
        str(photo),
        "--mask-from",
        "person",
        "--size",
        "96",
        "--scales",
        "1",
        "--iterations",
        "40",
        "--optimizer",
        "adam",
        "--lr",
        "0.05",
        "--style-weight",
        "1",
        "--no-progress",
    ]
    redness = {}
    for name, mapping in [
        ("a", f"person={tmp_path / 'red.png'},background={tmp_path / 'blue.png'}"),
        ("b", f"person={tmp_path / 'blue.png'},background={tmp_path / 'red.png'}"),
    ]:
        out = tmp_path / f"{name}.png"
        r = CliRunner().invoke(main, args + ["--class-style", mapping, "-o", str(out)])
        assert r.exit_code == 0, r.output
        img = np.asarray(Image.open(out).convert("RGB"), dtype=np.float32)
        rb = img[..., 0] - img[..., 2]
        redness[name] = (rb[inside].mean(), rb[outside].mean())
        side = json.loads(out.with_name(out.name + ".json").read_text())
        assert side["mask_from"]["style_classes"] == [["person"], ["background"]]
    assert redness["a"][0] > redness["b"][0] + 20, redness  # the person is redder with red on the person
    assert redness["b"][1] > redness["a"][1] + 20, redness  # the background is redder with red on the background


def test_fast_method_paints_each_region_with_its_artwork(tmp_path):
    """--method fast with --mask-from: the person region is the person's artwork's result, the rest the other's."""
    import numpy as np
    from click.testing import CliRunner

    from suite.cli import main
    from suite.common.io.images import load_image
    from suite.unet.presets import load_preset
    from suite.unet.segment import segment_image

    root = Path(__file__).resolve().parents[1] / "assets"
    photo, bg, fg = root / "photos" / "astronaut.jpg", root / "styles" / "mosaic.jpg", root / "styles" / "swirls.jpg"
    runner = CliRunner()
    outs = {}
    for name, args in (
        ("regions", ["--mask-from", "person", "--class-style", f"background={bg},person={fg}"]),
        ("bg", ["--style", str(bg)]),
        ("fg", ["--style", str(fg)]),
    ):
        r = runner.invoke(
            main,
            ["stylize", str(photo), "--method", "fast", "--size", "128", *args, "-o", str(tmp_path / f"{name}.png")],
        )
        assert r.exit_code == 0, r.output
        outs[name] = load_image(tmp_path / f"{name}.png")
    mask = segment_image(load_preset("person"), load_image(photo))
    from PIL import Image

    h, w = outs["regions"].shape[:2]
    mask = np.asarray(Image.fromarray(mask.astype(np.uint8)).resize((w, h), Image.NEAREST)) == 1
    person = (
        mask & np.roll(mask, 3, 0) & np.roll(mask, -3, 0) & np.roll(mask, 3, 1) & np.roll(mask, -3, 1)
    )  # away from edges
    background = ~mask & ~np.roll(mask, 3, 0) & ~np.roll(mask, -3, 0) & ~np.roll(mask, 3, 1) & ~np.roll(mask, -3, 1)
    err = lambda a, b, m: float(np.abs(a - b)[m].mean())  # noqa: E731
    assert err(outs["regions"], outs["fg"], person) < 0.3 * err(outs["regions"], outs["bg"], person)
    assert err(outs["regions"], outs["bg"], background) < 0.3 * err(outs["regions"], outs["fg"], background)
