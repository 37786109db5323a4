import io
import os

import numpy as np
import pytest
from PIL import Image

from suite.common.io.atomic import OutputExistsError, atomic_write
from suite.common.io.images import (
    ImageReadError,
    collect_inputs,
    list_images,
    load_image,
    save_image,
    scan_folder,
)


def _rgb(h=8, w=12):
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 0] = 200
    a[: h // 2, :, 1] = 100
    return a


def test_rgb_roundtrip(tmp_path):
    Image.fromarray(_rgb()).save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    assert img.dtype == np.float32 and img.shape == (8, 12, 3)
    np.testing.assert_array_equal(img, _rgb().astype(np.float32))


def test_exif_orientation_is_applied(tmp_path):
    im = Image.fromarray(_rgb(8, 12))
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display upright
    im.save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=100)
    assert load_image(tmp_path / "r.jpg").shape == (12, 8, 3)


def test_grayscale_palette_rgba_cmyk_16bit(tmp_path):
    Image.fromarray(np.full((4, 5), 77, np.uint8), "L").save(tmp_path / "g.png")
    g = load_image(tmp_path / "g.png")
    assert g.shape == (4, 5, 3) and np.all(g == 77)

    p = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), "P")
    p.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    p.save(tmp_path / "p.png")
    np.testing.assert_array_equal(load_image(tmp_path / "p.png")[0, 1], [0, 0, 255])

    rgba = np.zeros((3, 3, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[0, 0, 3] = 255  # one opaque red pixel, the rest fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    t = load_image(tmp_path / "t.png")
    np.testing.assert_array_equal(t[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(t[1, 1], [255, 255, 255])  # composited on white

    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=100)
    c = load_image(tmp_path / "c.jpg")
    assert c.shape == (4, 4, 3) and c[0, 0, 0] > 200 and c[0, 0, 1] < 60

    sixteen = np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000
    Image.fromarray(sixteen).save(tmp_path / "d.png")
    d = load_image(tmp_path / "d.png")
    np.testing.assert_allclose(d[..., 0], sixteen / 65535 * 255, atol=1e-3)


@pytest.mark.parametrize(
    "name,content,reason",
    [
        ("empty.jpg", b"", "empty file"),
        ("text.png", b"hello, I am not an image\n", "not an image"),
    ],
)
def test_bad_files_raise_one_error_type(tmp_path, name, content, reason):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ImageReadError, match=reason) as e:
        load_image(tmp_path / name)
    assert "\n" not in str(e.value) and name in str(e.value)


def test_truncated_files(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    for n in ("cut.png", "cut.jpg"):
        with pytest.raises(ImageReadError, match="truncated|corrupt"):
            load_image(tmp_path / n)


def test_pixel_limit_refuses_bombs(tmp_path):
    Image.new("L", (100, 100)).save(tmp_path / "big.png")
    with pytest.raises(ImageReadError, match="over the limit"):
        load_image(tmp_path / "big.png", max_pixels=5000)
    assert load_image(tmp_path / "big.png", max_pixels=None).shape == (100, 100, 3)


def test_list_images_by_content_and_extension(tmp_path):
    Image.fromarray(_rgb()).save(tmp_path / "b.png")
    Image.fromarray(_rgb()).save(tmp_path / "a_wrong_ext.txt", format="PNG")  # image by content
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "fake.jpg").write_text("text with an image extension")  # kept: fails later with a reason
    (tmp_path / "sub").mkdir()
    Image.fromarray(_rgb()).save(tmp_path / "sub" / "c.png")
    names = [p.name for p in list_images(tmp_path)]
    assert names == ["a_wrong_ext.txt", "b.png", "fake.jpg"]
    images, skipped = scan_folder(tmp_path, recursive=True)
    assert [p.name for p in images] == ["a_wrong_ext.txt", "b.png", "fake.jpg", "c.png"]
    assert [p.name for p in skipped] == ["notes.txt"]


def test_recursive_walk_survives_symlink_loop(tmp_path):
    (tmp_path / "d").mkdir()
    Image.fromarray(_rgb()).save(tmp_path / "d" / "x.png")
    os.symlink(tmp_path, tmp_path / "d" / "loop")
    items, _ = collect_inputs([tmp_path], recursive=True)
    assert [str(rel) for _, rel in items] == ["d/x.png"]


def test_save_is_atomic_and_refuses_overwrite(tmp_path):
    out = tmp_path / "o" / "x.png"
    save_image(_rgb(), out)
    assert load_image(out).shape == (8, 12, 3)
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600
    with pytest.raises(OutputExistsError, match="--overwrite"):
        save_image(np.zeros((2, 2, 3)), out)
    assert load_image(out).shape == (8, 12, 3)  # untouched
    save_image(np.zeros((2, 2, 3)), out, overwrite=True)
    assert load_image(out).shape == (2, 2, 3)

    def crash(fh):
        fh.write(b"partial")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "y.bin", crash)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]  # no partial file, no temp left


def test_partial_files_of_a_killed_write_are_cleaned(tmp_path):
    from suite.common.io.atomic import remove_partial_files

    (tmp_path / ".x.png.abc123.part").write_bytes(b"half")
    (tmp_path / "keep.part").write_bytes(b"not ours")
    (tmp_path / "x.png").write_bytes(b"done")
    assert [p.name for p in remove_partial_files(tmp_path)] == [".x.png.abc123.part"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.part", "x.png"]


def test_heic_is_read_with_the_heic_extra(tmp_path):
    """An iPhone photo (HEIC) reads like any other image when pillow-heif is installed."""
    pillow_heif = pytest.importorskip("pillow_heif")
    from suite.common.io.images import image_size, list_images, load_image

    yy, xx = np.mgrid[0:20, 0:30]
    pixels = np.stack([xx * 8, yy * 12, 255 - xx * 8], -1).astype("uint8")  # smooth, as photos are
    heif = pillow_heif.from_bytes(mode="RGB", size=(30, 20), data=pixels.tobytes())
    heif.save(tmp_path / "iphone.heic", quality=95)
    (tmp_path / "no_extension").write_bytes((tmp_path / "iphone.heic").read_bytes())
    img = load_image(tmp_path / "iphone.heic")
    assert img.shape == (20, 30, 3)
    assert np.abs(img - pixels).mean() < 12  # lossy, but the same picture
    assert image_size(tmp_path / "iphone.heic") == image_size(tmp_path / "no_extension")
    assert [p.name for p in list_images(tmp_path)] == ["iphone.heic", "no_extension"]
