"""The hostile corpus against the shared reader: usable files read right, bad ones refused with a reason."""

import re

import numpy as np

from suite.common.io.images import ImageReadError, collect_inputs, load_image
from tests.hostile import make_corpus


def test_reader_on_hostile_corpus(tmp_path):
    expect = make_corpus(tmp_path / "in")
    items, skipped = collect_inputs([tmp_path / "in"], recursive=True)
    found = {str(rel) for _, rel in items}
    assert set(expect) <= found  # every image-like file is found, bad ones included, loop walked once
    assert [p.name for p in skipped] == ["notes.txt"]
    for path, rel in items:
        kind, what = expect[str(rel)]
        if kind == "ok":
            img = load_image(path)
            assert img.shape == (*what, 3), rel
            assert np.isfinite(img).all() and img.min() >= 0 and img.max() <= 255
        else:
            try:
                load_image(path)
            except ImageReadError as e:
                assert re.search(what, str(e)), (rel, str(e))
                assert "\n" not in str(e) and str(rel).split("/")[-1] in str(e)
            else:
                raise AssertionError(f"{rel} should have been refused")


def test_usable_odd_formats_read_right(tmp_path):
    from tests.hostile import photo

    make_corpus(tmp_path, with_symlink_loop=False)
    ref = photo(32, 48).astype(np.float32)
    cmyk = load_image(tmp_path / "cmyk.jpg")
    assert np.abs(cmyk - ref).mean() < 12  # CMYK JPEG decoded to the right colours
    sixteen = load_image(tmp_path / "sixteen.png")
    np.testing.assert_allclose(sixteen[..., 0], photo(26, 18)[..., 0].astype(np.float32), atol=0.01)
    rot = load_image(tmp_path / "exif_rotated.jpg")
    upright = np.rot90(photo(20, 40), k=-1).astype(np.float32)  # orientation 6 = rotate 90 clockwise
    assert np.abs(rot - upright).mean() < 12
