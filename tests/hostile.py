"""A hostile-input corpus: what real users' folders contain.

``make_corpus(folder)`` writes the files and returns ``{name: expectation}``
where an expectation is ``("ok", (H, W))`` for usable inputs (upright size)
or ``("fail", reason_regex)`` for inputs that must be refused with a reason.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width=100_000, height=100_000) -> bytes:
    """A tiny PNG whose header claims ``width x height`` pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def photo(h=48, w=64, seed=0) -> np.ndarray:
    """A smooth colourful test picture (gradients plus a disc)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx / max(w - 1, 1) * 255, yy / max(h - 1, 1) * 255, np.full((h, w), 128.0)], -1)
    disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 4) ** 2
    img[disc] = rng.integers(0, 255, 3)
    return img.astype(np.uint8)


def make_corpus(folder, with_symlink_loop: bool = True) -> dict:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    expect = {}

    def save(name, img, ok_size, **kw):
        img.save(folder / name, **kw)
        expect[name] = ("ok", ok_size)

    (folder / "zero.jpg").write_bytes(b"")
    expect["zero.jpg"] = ("fail", "empty")
    buf = io.BytesIO()
    Image.fromarray(photo(64, 64)).save(buf, "JPEG")
    (folder / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    expect["truncated.jpg"] = ("fail", "truncated|corrupt")
    buf = io.BytesIO()
    Image.fromarray(photo(64, 64)).save(buf, "PNG")
    (folder / "truncated.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    expect["truncated.png"] = ("fail", "truncated|corrupt")
    (folder / "text.png").write_text("this is text with an image extension\n")
    expect["text.png"] = ("fail", "not an image")
    (folder / "bomb.png").write_bytes(bomb_png())
    expect["bomb.png"] = ("fail", "over the limit")

    save("png_named.jpg", Image.fromarray(photo(40, 30)), (40, 30), format="PNG")  # wrong extension
    save("cmyk.jpg", Image.fromarray(photo(32, 48)).convert("CMYK"), (32, 48), quality=95)
    save("gray.png", Image.fromarray(photo(30, 20)).convert("L"), (30, 20))
    save("palette.png", Image.fromarray(photo(24, 36)).convert("P"), (24, 36))
    save("rgba.png", Image.fromarray(photo(20, 28)).convert("RGBA"), (20, 28))
    sixteen = photo(26, 18)[..., 0].astype(np.uint16) * 257
    save("sixteen.png", Image.fromarray(sixteen), (26, 18))
    rotated = Image.fromarray(photo(20, 40))
    exif = rotated.getexif()
    exif[0x0112] = 6
    rotated.save(folder / "exif_rotated.jpg", exif=exif.tobytes(), quality=95)
    expect["exif_rotated.jpg"] = ("ok", (40, 20))  # upright: width and height swap
    save("one_by_one.png", Image.fromarray(photo(1, 1)), (1, 1))
    save("one_by_n.png", Image.fromarray(photo(1, 37)), (1, 37))
    save("wide.png", Image.fromarray(photo(6, 700)), (6, 700))
    save("name with spaces.png", Image.fromarray(photo(16, 16, 1)), (16, 16))
    save("naïve ünïcode.png", Image.fromarray(photo(16, 16, 2)), (16, 16))
    save("-leading-dash.png", Image.fromarray(photo(16, 16, 3)), (16, 16))
    # The formats people have besides JPEG and PNG.
    save("webp.webp", Image.fromarray(photo(22, 30, 5)), (22, 30), quality=90)
    save("tiff.tiff", Image.fromarray(photo(18, 26, 6)), (18, 26))
    save("bmp.bmp", Image.fromarray(photo(14, 20, 7)), (14, 20))
    frames = [Image.fromarray(photo(16, 24, 8 + k)).convert("P") for k in range(3)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=50)
    expect["animated.gif"] = ("ok", (16, 24))  # segment reads its first frame; stylize treats it as a clip
    # An iPhone photo on a machine without a HEIF decoder: the ISO-BMFF header of a HEIC file.
    (folder / "iphone.heic").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64))
    expect["iphone.heic"] = ("fail", "HEIC")
    (folder / "notes.txt").write_text("not an image, skipped with a note\n")
    if with_symlink_loop:
        (folder / "sub").mkdir(exist_ok=True)
        save("sub/nested.png", Image.fromarray(photo(12, 12, 4)), (12, 12))
        if not (folder / "sub" / "loop").exists():
            os.symlink(folder, folder / "sub" / "loop")
    return expect


def make_training_corpus(root) -> tuple[Path, Path, set, dict]:
    """The image corpus as a segmentation data set, plus the mask-side hostile cases.

    Every image gets a mask of its upright size (labels 0..2), so the usable
    ones (CMYK, 16-bit, palette, grey, RGBA, EXIF-rotated, odd names, tiny and
    wide) must all be trained on: a reader that got the orientation or the size
    wrong would show up as a size mismatch. Bad images get a mask too, so they
    are refused for the image, and three good images get a bad mask each.

    Returns:
        ``(images_dir, masks_dir, used_stems, refused)`` where ``refused`` maps a
        stem to a regex its one-line reason must match. ``truncated.jpg`` and
        ``truncated.png`` share a stem, so neither can be paired: they are
        reported as ambiguous, not refused one by one.
    """
    root = Path(root)
    images, masks = root / "images", root / "masks"
    expect = make_corpus(images, with_symlink_loop=False)
    masks.mkdir(parents=True)
    rng = np.random.default_rng(0)
    used, refused = set(), {}
    for name, (kind, what) in expect.items():
        stem = Path(name).stem
        if kind == "ok":
            h, w = what
            Image.fromarray(rng.integers(0, 3, (h, w)).astype(np.uint8)).save(masks / f"{stem}.png")
            used.add(stem)
        else:
            Image.fromarray(np.zeros((16, 16), np.uint8)).save(masks / f"{stem}.png")
            if stem != "truncated":
                refused[stem] = what
    for stem, mask, reason in (
        ("labels_out", np.full((20, 20), 7, np.uint8), r"labels 7 are outside 0..2"),
        ("wrong_size", np.zeros((10, 12), np.uint8), r"size mismatch: .*wrong_size.* is 20x20 but mask .* is 12x10"),
        (
            "rgb_mask",
            np.stack([np.zeros((20, 20)), np.full((20, 20), 128), np.zeros((20, 20))], -1).astype(np.uint8),
            r"RGB colour mask",
        ),
    ):
        Image.fromarray(photo(20, 20)).save(images / f"{stem}.png")
        Image.fromarray(mask).save(masks / f"{stem}.png")
        refused[stem] = reason
    Image.fromarray(photo(20, 20)).save(images / "no_mask.png")  # an image without a mask
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(masks / "no_image.png")  # a mask without an image
    return images, masks, used, refused
