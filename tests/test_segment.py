"""suite segment: odd files and sizes, resume, naming, tiling, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from suite.common.io.images import load_image, output_stems
from suite.common.ui.viz import overlay
from suite.unet import predict as P
from suite.unet.model_io import model_metadata
from suite.unet.segment import segment_folder, segment_image
from tests.helpers import tiny_segmenter


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    tiny_segmenter(path=path)
    return path


@pytest.fixture(scope="module")
def model(model_path):
    from suite.unet.model_io import load_segmentation_model

    return load_segmentation_model(model_path)


def _smooth_image(h, w, seed=0):
    """Blobs rather than noise, so argmax decisions are not all near-ties."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / 23.0
    img = np.stack([np.sin(xx + rng.uniform(0, 6)) * np.cos(yy * (c + 1) * 0.7) for c in range(3)], -1)
    return ((img + 1) * 127.5).astype(np.uint8)


def _save(arr_or_img, path, **kw):
    img = arr_or_img if isinstance(arr_or_img, Image.Image) else Image.fromarray(arr_or_img)
    img.save(path, **kw)
    return path


def _mask(path):
    with Image.open(path) as im:
        return im.mode, np.asarray(im)


def test_modes_sizes_and_exif(tmp_path, model):
    src = tmp_path / "in"
    src.mkdir()
    rgb = _smooth_image(37, 53)
    _save(rgb, src / "odd.jpg")
    _save(_smooth_image(1, 1), src / "one_pixel.png")
    _save(Image.fromarray(rgb).convert("L"), src / "grey.png")
    _save(Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])), src / "rgba.png")
    _save(Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE), src / "palette.png")
    _save(Image.fromarray(rgb[..., 0].astype(np.uint16) * 257), src / "sixteen.png")
    # Stored 40 wide x 24 high, EXIF orientation 6: upright it is 24 wide x 40 high.
    exif = Image.Exif()
    exif[0x0112] = 6
    _save(_smooth_image(24, 40), src / "rotated.jpg", exif=exif.tobytes())

    report = segment_folder(src, tmp_path / "out", model, progress=False)
    assert report.ok and len(report.done) == 7, report.to_dict()
    expected = {
        "odd": (37, 53),
        "one_pixel": (1, 1),
        "grey": (37, 53),
        "rgba": (37, 53),
        "palette": (37, 53),
        "sixteen": (37, 53),
        "rotated": (40, 24),
    }
    for stem, shape in expected.items():
        mode, mask = _mask(tmp_path / "out" / f"{stem}.png")
        assert mode == "P" and mask.shape == shape, stem
        assert mask.max() < 4
    # The EXIF photo is segmented upright: same mask as the upright pixels segmented directly.
    upright = load_image(src / "rotated.jpg")
    assert upright.shape[:2] == (40, 24)
    np.testing.assert_array_equal(_mask(tmp_path / "out" / "rotated.png")[1], segment_image(model, upright))


def test_cli_corrupt_file_among_good_ones(tmp_path, model_path):
    from suite.cli import main

    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        _save(_smooth_image(30 + i, 40, seed=i), src / f"good{i}.jpg")
    good = (src / "good0.jpg").read_bytes()
    (src / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (src / "empty.png").write_bytes(b"")
    (src / "readme.txt").write_text("not an image")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["segment", str(src), "--model", str(model_path), "-o", str(out), "--overlay"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    report = json.loads((out / "report.json").read_text())
    assert report["counts"] == {"done": 3, "skipped": 0, "failed": 2, "not_images": 1}
    reasons = {Path_name(f["input"]): f["reason"] for f in report["failed"]}
    assert "empty" in reasons["empty.png"]
    assert "truncated" in reasons["truncated.jpg"].lower() or "corrupt" in reasons["truncated.jpg"].lower()
    for i in range(3):
        assert (out / f"good{i}.png").is_file() and (out / f"good{i}_overlay.jpg").is_file()
    assert not list(out.glob(".*.part")), "no temporary files left behind"
    with Image.open(out / "good1_overlay.jpg") as ov:
        # Small images get the legend in a panel on the right, the image itself left whole.
        assert ov.size[0] > 40 and ov.size[1] >= 31 and ov.mode == "RGB"


def Path_name(p):
    from pathlib import Path

    return Path(p).name


def test_resume_skips_existing_and_overwrite_replaces(tmp_path, model):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(4):
        _save(_smooth_image(32, 48, seed=i), src / f"im{i}.png")
    first = segment_folder(src, out, model, progress=False)
    assert len(first.done) == 4
    # A killed run: one mask missing, one stale file that must not be touched.
    (out / "im2.png").unlink()
    (out / "im0.png").write_bytes(b"stale")
    second = segment_folder(src, out, model, progress=False)
    assert [Path_name(p) for p in second.done] == ["im2.png"]
    assert len(second.skipped) == 3
    assert (out / "im0.png").read_bytes() == b"stale"
    assert _mask(out / "im2.png")[1].shape == (32, 48)
    third = segment_folder(src, out, model, overwrite=True, progress=False)
    assert len(third.done) == 4 and not third.skipped
    assert _mask(out / "im0.png")[1].shape == (32, 48)
    # Asking for more outputs later computes only what is missing.
    fourth = segment_folder(src, out, model, overlay=True, progress=False)
    assert len(fourth.done) == 4 and all((out / f"im{i}_overlay.jpg").exists() for i in range(4))


def test_collision_naming_and_recursive_mirror(tmp_path, model):
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    (a / "sub").mkdir(parents=True)
    b.mkdir()
    _save(_smooth_image(20, 20, 1), a / "x.jpg")
    _save(_smooth_image(20, 24, 2), a / "x.png")
    _save(_smooth_image(20, 28, 3), a / "sub" / "y.jpg")
    _save(_smooth_image(20, 32, 4), b / "x.jpg")
    report = segment_folder([a, b / "x.jpg"], out, model, recursive=True, progress=False)
    assert report.ok and len(report.done) == 4
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    assert names == ["sub/y.png", "x_jpg.png", "x_jpg_2.png", "x_png.png"]
    widths = sorted(_mask(out / n)[1].shape[1] for n in names if n != "sub/y.png")
    assert widths == [20, 24, 32], "each input has its own output"
    # Names only depend on the inputs, so a re-run finds everything done.
    again = segment_folder([a, b / "x.jpg"], out, model, recursive=True, progress=False)
    assert len(again.skipped) == 4 and not again.done


def test_output_stems_case_insensitive():
    from pathlib import Path

    stems = output_stems([Path("A.JPG"), Path("a.png"), Path("b.jpg"), Path("a_png.png")])
    assert len({str(s).lower() for s in stems}) == 4
    assert stems[2] == Path("b")


def test_outputs_inside_input_folder_are_not_inputs(tmp_path, model):
    src = tmp_path / "in"
    src.mkdir()
    _save(_smooth_image(20, 20), src / "p.jpg")
    segment_folder(src, src / "masks", model, recursive=True, progress=False)
    report = segment_folder(src, src / "masks", model, recursive=True, progress=False)
    assert report.skipped == [str(src / "p.jpg")] and not report.done and not report.failed


def test_tiled_matches_untiled_away_from_edges(model):
    image = _smooth_image(300, 260).astype(np.float32)
    mask_full, prob_full = segment_image(model, image, probabilities=True)
    mask_tiled, prob_tiled = segment_image(model, image, tile=128, overlap=32, probabilities=True)
    assert prob_tiled.shape == prob_full.shape == (300, 260, 4)
    inner = (slice(8, -8), slice(8, -8))
    np.testing.assert_allclose(prob_tiled[inner], prob_full[inner], atol=2e-3)
    top2 = np.sort(prob_full[inner], axis=-1)[..., -2:]
    decided = (top2[..., 1] - top2[..., 0]) > 5e-3  # beyond twice the tolerance
    assert decided.mean() > 0.8
    np.testing.assert_array_equal(mask_tiled[inner][decided], mask_full[inner][decided])


def test_tiled_folder_streams_probabilities(tmp_path, model):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    img = _smooth_image(200, 170)
    _save(img, src / "big.png")
    _save(_smooth_image(50, 40), src / "small.png")
    report = segment_folder(src, out, model, tile=64, overlap=16, probabilities=True, overlay=True, progress=False)
    assert report.ok and len(report.done) == 2
    probs = np.load(out / "big.npy")
    assert probs.shape == (200, 170, 4) and probs.dtype == np.float16
    np.testing.assert_allclose(probs.astype(np.float32).sum(-1), 1.0, atol=5e-3)
    mask, ref = segment_image(model, img.astype(np.float32), tile=64, overlap=16, probabilities=True)
    np.testing.assert_array_equal(_mask(out / "big.png")[1], mask)
    np.testing.assert_allclose(probs, ref, atol=1e-3)
    small = np.load(out / "small.npy")
    assert small.shape == (50, 40, 4)
    np.testing.assert_array_equal(small.astype(np.float32).argmax(-1), _mask(out / "small.png")[1])


def test_batched_equals_one_at_a_time(model):
    images = [_smooth_image(64, 64, s).astype(np.float32) for s in range(3)] + [
        _smooth_image(60, 50).astype(np.float32)
    ]
    batched = P.predict_batch(model, images, stride=32)
    for im, lg in zip(images, batched):
        assert lg.shape[:2] == im.shape[:2]
        # GPUs reorder sums with the batch size: a few 1e-4 apart there, ~1e-6 on CPU.
        np.testing.assert_allclose(lg, P.predict_logits(model, im, stride=32), atol=2e-3)


@pytest.mark.parametrize("channels", [1, 4])
def test_heads_compile_postprocessing_into_the_model(channels):
    model = tiny_segmenter(channels, seed=3)
    images = [_smooth_image(40, 56, s) for s in range(2)]
    logits = P.predict_batch(model, images, stride=32)
    masks = P.predict_batch(model, images, stride=32, head="mask")
    both = P.predict_batch(model, images, stride=32, head="mask+probabilities")
    for lg, mk, (mk2, pr) in zip(logits, masks, both):
        assert mk.dtype == np.uint8 and mk.shape == (40, 56)
        np.testing.assert_array_equal(mk, mk2)
        np.testing.assert_array_equal(mk, P.scores_to_mask(lg, threshold=0.0))
        np.testing.assert_allclose(pr, P.logits_to_probabilities(lg), atol=1e-5)
    assert np.unique(masks[0]).size > 1, "a degenerate model would make this test vacuous"


def test_tile_starts_cover_and_blend_weights():
    assert P.tile_starts(100, 128, 32) == [0]
    starts = P.tile_starts(1000, 512, 64)
    assert starts[0] == 0 and starts[-1] == 1000 - 512
    assert all(b - a <= 512 - 64 for a, b in zip(starts, starts[1:]))
    w = P.blend_ramp(128, 32, before=True, after=False)
    assert w[-1] == 1 and w[0] < 0.01 and np.all(np.diff(w[:32]) >= 0)


def test_lambda_model_is_refused(tmp_path):
    import keras

    from suite.cli import main

    inp = keras.Input((None, None, 3))
    x = keras.layers.Lambda(lambda t: t / 255.0)(inp)
    bad = keras.Model(inp, keras.layers.Conv2D(2, 1)(x))
    bad.save(tmp_path / "lambda.keras")
    _save(_smooth_image(8, 8), tmp_path / "p.png")
    result = CliRunner().invoke(
        main,
        ["segment", str(tmp_path / "p.png"), "--model", str(tmp_path / "lambda.keras"), "-o", str(tmp_path / "out")],
    )
    assert result.exit_code != 0
    assert "Lambda" in result.output and "Traceback" not in result.output


def test_overlay_paints_classes_and_keeps_background():
    image = np.full((60, 80, 3), 200, np.uint8)
    mask = np.zeros((60, 80), np.uint8)
    mask[30:, 40:] = 1
    pic = np.asarray(overlay(image, mask, ["background", "cat"], legend=False))
    assert pic.shape == (60, 80, 3)
    np.testing.assert_array_equal(pic[:30, :40], image[:30, :40])
    assert pic[50, 70, 0] > pic[50, 70, 1] + 50  # class 1 is red in the VOC palette
    small = np.asarray(overlay(image, mask, ["background", "cat"]))
    assert small.shape[0] == 60 and small.shape[1] > 80, "legend panel beside a small image"
    np.testing.assert_array_equal(small[:, :80], pic)
    big_image = np.full((600, 800, 3), 200, np.uint8)
    big_mask = np.kron(mask, np.ones((10, 10), np.uint8))
    big = np.asarray(overlay(big_image, big_mask, ["background", "cat"]))
    assert big.shape == (600, 800, 3), "legend drawn in the corner of a large image"
    assert (big[:40, :40] != 200).any() and (big[300:, :400] == 200).all()


def test_suite_unet_end_to_end(tmp_path):
    """A real suite U-Net (stride from its config, class names in the legend) through the CLI."""
    from suite.cli import main
    from suite.unet.model import build_unet

    model = build_unet(None, num_classes=3, encoder_filters=(4, 8, 16), class_names=["bg", "cat", "dog"])
    meta = model_metadata(model)
    assert meta.stride == model.stride and meta.class_names == ("bg", "cat", "dog") and meta.named
    model.save(tmp_path / "unet.keras")
    src = tmp_path / "in"
    src.mkdir()
    _save(_smooth_image(45, 70), src / "a.jpg")
    _save(_smooth_image(33, 17, 1), src / "b.png")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "segment",
            str(src),
            "-m",
            str(tmp_path / "unet.keras"),
            "-o",
            str(out),
            "--overlay",
            "--probabilities",
            "--batch-size",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert _mask(out / "a.png")[1].shape == (45, 70) and _mask(out / "b.png")[1].shape == (33, 17)
    assert np.load(out / "b.npy").shape == (33, 17, 3)


def test_max_pixels_refuses_with_reason(tmp_path, model):
    src = tmp_path / "in"
    src.mkdir()
    _save(_smooth_image(20, 20), src / "big.png")
    _save(_smooth_image(8, 8), src / "small.png")
    report = segment_folder(src, tmp_path / "out", model, max_pixels=100, progress=False)
    assert [Path_name(p) for p in report.done] == ["small.png"]
    assert len(report.failed) == 1 and "over the limit" in report.failed[0]["reason"]


def test_no_images_is_an_error_and_leaves_no_output_folder(tmp_path, model_path):
    from suite.cli import main

    empty = tmp_path / "empty"
    empty.mkdir()
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "a.txt").write_text("not an image")
    for src in (empty, texts):
        out = tmp_path / f"out_{src.name}"
        result = CliRunner().invoke(main, ["segment", str(src), "-m", str(model_path), "-o", str(out)])
        assert result.exit_code == 1, result.output
        assert f"no images found in {src}" in result.output and "Traceback" not in result.output, result.output
        assert not out.exists()


def test_a_model_that_fails_to_load_leaves_no_output_folder(tmp_path):
    from suite.cli import main

    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(_smooth_image(16, 16)).save(src / "a.png")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["segment", str(src), "-m", str(bad), "-o", str(out)])
    assert result.exit_code == 1 and "bad.keras" in result.output, result.output
    assert not out.exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    assert CliRunner().invoke(main, ["segment", str(src), "-m", str(bad), "-o", str(kept)]).exit_code == 1
    assert kept.is_dir()  # a folder the user had is never removed


def test_a_classifier_is_refused_naming_the_file(tmp_path):
    import keras

    from suite.cli import main

    inp = keras.Input((None, None, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inp))
    path = tmp_path / "classifier.keras"
    keras.Model(inp, keras.layers.Dense(3)(x)).save(path)
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(_smooth_image(16, 16)).save(src / "a.png")
    result = CliRunner().invoke(main, ["segment", str(src), "-m", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1 and str(path) in result.output and "segmentation model" in result.output, result.output


def test_output_folder_that_is_the_input_folder_is_refused(tmp_path, model, model_path):
    from suite.cli import main

    src = tmp_path / "in"
    src.mkdir()
    _save(_smooth_image(20, 20), src / "p.png")
    before = sorted(p.name for p in src.iterdir())
    r = CliRunner().invoke(main, ["segment", str(src), "-m", str(model_path), "-o", str(src / ".")])
    assert r.exit_code == 2, r.output
    err = r.stderr.strip().splitlines()[-1]
    assert err.startswith("Error: -o ") and "is the input folder" in err and "another output folder" in err, err
    with pytest.raises(ValueError, match="is the input folder"):
        segment_folder(src, src, model, progress=False)
    assert sorted(p.name for p in src.iterdir()) == before  # nothing written, no report.json
    # An output folder inside the input folder stays a supported layout (its masks are never inputs).
    r = CliRunner().invoke(main, ["segment", str(src), "-m", str(model_path), "-o", str(src / "masks"), "--recursive"])
    assert r.exit_code == 0 and "done 1" in r.stdout, r.output


def test_an_output_folder_holding_the_inputs_still_segments_them(tmp_path):
    """`-o .` next to a named image, or around an input folder, segments them (not "no images found")."""
    from suite.unet.folder_engine import plan_items

    (tmp_path / "sub").mkdir()
    for p in (tmp_path / "a.jpg", tmp_path / "sub" / "b.jpg"):
        Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(p)
    items, _, _ = plan_items([tmp_path / "a.jpg"], tmp_path)
    assert [it.path for it in items] == [tmp_path / "a.jpg"]
    items, _, _ = plan_items([tmp_path / "sub"], tmp_path)
    assert [it.path for it in items] == [tmp_path / "sub" / "b.jpg"]
    # an output folder inside the input folder holds results, never new inputs
    (tmp_path / "sub" / "out").mkdir()
    Image.fromarray(np.full((8, 8, 3), 1, np.uint8)).save(tmp_path / "sub" / "out" / "old.png")
    items, _, _ = plan_items([tmp_path / "sub"], tmp_path / "sub" / "out", recursive=True)
    assert [it.path for it in items] == [tmp_path / "sub" / "b.jpg"]


@pytest.mark.parametrize("channels", [1, 4])
def test_tta_flip_averages_the_image_and_its_mirror(channels):
    model = tiny_segmenter(channels, seed=5)
    images = [_smooth_image(40, 56, s) for s in range(2)]
    plain = P.predict_batch(model, images, stride=32, head="probabilities")
    mirrored = P.predict_batch(
        model, [np.ascontiguousarray(im[:, ::-1]) for im in images], stride=32, head="probabilities"
    )
    probs = P.predict_batch(model, images, stride=32, head="probabilities", tta="flip")
    masks = P.predict_batch(model, images, stride=32, head="mask", tta="flip")
    both = P.predict_batch(model, images, stride=32, head="mask+probabilities", tta="flip")
    logits = P.predict_batch(model, images, stride=32, tta="flip")
    for im, pl, mi, pr, mk, (mk2, pr2), lg in zip(images, plain, mirrored, probs, masks, both, logits):
        np.testing.assert_allclose(pr, 0.5 * (pl + mi[:, ::-1]), atol=1e-5)
        assert mk.shape == im.shape[:2] and mk.dtype == np.uint8
        np.testing.assert_array_equal(mk, P.scores_to_mask(pr))
        np.testing.assert_array_equal(mk, mk2)
        np.testing.assert_allclose(pr2, pr, atol=1e-6)
        np.testing.assert_array_equal(P.scores_to_mask(lg, threshold=0.0), mk)  # logits give the same mask
    # The flips change some decisions of this asymmetric model: the test would not notice a no-op otherwise.
    assert any((P.scores_to_mask(pl) != mk).any() for pl, mk in zip(plain, masks))
    with pytest.raises(ValueError, match="tta"):
        P.predict_batch(model, images, stride=32, tta="rotate")


def test_tta_flip_in_segment_image_folders_and_tiles(tmp_path, model, model_path):
    img = _smooth_image(70, 90, 4)
    want = segment_image(model, img, tta="flip")
    np.testing.assert_array_equal(want, P.predict_batch(model, [img], head="mask", tta="flip")[0])
    assert (want != segment_image(model, img)).any()
    # Tiled: away from the tile seams the flipped tiles agree with the whole image.
    tiled = segment_image(model, img, tile=64, overlap=32, tta="flip")
    assert (tiled == want).mean() > 0.95
    src = tmp_path / "in"
    src.mkdir()
    _save(img, src / "a.png")
    segment_folder(src, tmp_path / "out", model_path, tta="flip", progress=False)
    np.testing.assert_array_equal(_mask(tmp_path / "out" / "a.png")[1], want)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["options"]["tta"] == "flip"
    from suite.cli import main

    result = CliRunner().invoke(
        main,
        [
            "segment",
            str(src),
            "--model",
            str(model_path),
            "-o",
            str(tmp_path / "cli"),
            "--tta",
            "flip",
            "--no-mixed-precision",
        ],
    )
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(_mask(tmp_path / "cli" / "a.png")[1], want)
