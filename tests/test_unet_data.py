"""Data layouts, mask reading, the tf.data pipeline and mask-safe augmentation, on tiny generated files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from suite.unet import data as sdata
from tests.helpers import write_random_image as _img


def _mask(path, array, palette=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(np.asarray(array, np.uint8), mode="L")
    if palette:
        img = img.convert("P")
        # A VOC-like palette whose colours differ from the indices: reading by colour would be wrong.
        pal = np.zeros((256, 3), np.uint8)
        pal[1], pal[2], pal[255] = (128, 0, 0), (0, 128, 0), (224, 224, 192)
        img = Image.fromarray(np.asarray(array, np.uint8), mode="P")
        img.putpalette(pal.ravel().tolist())
    img.save(path)


def _folders(tmp_path, n=4, h=20, w=24, num_classes=3):
    rng = np.random.default_rng(1)
    for i in range(n):
        _img(tmp_path / "images" / f"s{i}.jpg", h, w, seed=i)
        _mask(tmp_path / "masks" / f"s{i}.png", rng.integers(0, num_classes, (h, w)))
    return tmp_path / "images", tmp_path / "masks"


def test_folders_pairing_and_unpaired_warning(tmp_path, monkeypatch, capsys):
    images, masks = _folders(tmp_path)
    _img(images / "lonely.png")
    _mask(masks / "orphan.png", np.zeros((20, 24)))
    (masks / "notes.txt").write_text("not a mask")
    monkeypatch.delenv("SUITE_QUIET", raising=False)
    src = sdata.open_source(images, masks)
    assert src.layout == "folders"
    assert [p[0].stem for p in src.pairs] == ["s0", "s1", "s2", "s3"]
    assert all(p[1].suffix == ".png" for p in src.pairs)
    assert [p.name for p in src.unpaired_images] == ["lonely.png"]
    assert [p.name for p in src.unpaired_masks] == ["orphan.png"]
    err = capsys.readouterr().err
    assert "lonely.png" in err and "orphan.png" in err and "warning" in err


def test_oxford_pet_trimaps(tmp_path):
    root = tmp_path / "pets"
    tri = np.array([[1, 2, 3, 1], [2, 2, 3, 1]], np.uint8).repeat(4, 0).repeat(4, 1)
    _img(root / "images" / "Abyssinian_1.jpg", *tri.shape)
    _mask(root / "annotations" / "trimaps" / "Abyssinian_1.png", tri)
    src = sdata.open_source(root)
    assert src.layout == "oxford-pet" and len(src) == 1
    m = src.read_mask(src.pairs[0][1])
    assert m.dtype == np.int32
    np.testing.assert_array_equal(m[tri == 1], 1)  # pet
    np.testing.assert_array_equal(m[tri == 2], 0)  # background
    np.testing.assert_array_equal(m[tri == 3], 255)  # border: ignored by default
    src2 = sdata.open_source(root, trimap_border="pet", ignore_index=7)
    assert set(np.unique(src2.read_mask(src2.pairs[0][1])).tolist()) == {0, 1}
    stats = sdata.check_source(src, num_classes=2)
    assert stats.class_pixels.tolist() == [int((tri == 2).sum()), int((tri == 1).sum())]


def _voc(tmp_path, ids=("2007_000032", "2007_000039"), index_lines=None):
    voc = tmp_path / "VOCdevkit" / "VOC2012"
    arr = np.zeros((16, 20), np.uint8)
    arr[4:10, 5:12] = 2
    arr[3, :] = 255
    for i, name in enumerate(ids):
        _img(voc / "JPEGImages" / f"{name}.jpg", 16, 20, seed=i)
        _mask(voc / "SegmentationClass" / f"{name}.png", arr, palette=True)
    seg = voc / "ImageSets" / "Segmentation"
    seg.mkdir(parents=True)
    (seg / "train.txt").write_text("\n".join(index_lines or ids) + "\n")
    (seg / "val.txt").write_text(ids[-1] + "\n")
    return voc, arr


def test_voc_reads_palette_by_index_and_splits(tmp_path):
    voc, arr = _voc(tmp_path)
    for root in (tmp_path / "VOCdevkit", voc):
        src = sdata.open_source(root)
        assert src.layout == "voc" and len(src) == 2
        m = src.read_mask(src.pairs[0][1])
        np.testing.assert_array_equal(m, arr)  # indices, not palette colours
    assert len(sdata.open_source(voc, split="val")) == 1
    sdata.check_source(sdata.open_source(voc), num_classes=21)
    with pytest.raises(sdata.DatasetError, match="split 'test' not found"):
        sdata.open_source(voc, split="test")


def test_voc_index_cannot_escape_root(tmp_path):
    voc, _ = _voc(tmp_path, index_lines=["2007_000032", "../../../../etc/passwd"])
    with pytest.raises(sdata.DatasetError, match="outside the data set root"):
        sdata.open_source(voc)


def test_binary_masks(tmp_path):
    _img(tmp_path / "i" / "a.png", 8, 8)
    m = np.zeros((8, 8), np.uint8)
    m[2:5, 2:6] = 255
    _mask(tmp_path / "m" / "a.png", m)
    src = sdata.open_source(tmp_path / "i", tmp_path / "m", binary=True)
    out = src.read_mask(src.pairs[0][1])
    np.testing.assert_array_equal(out, (m == 255).astype(np.int32))
    assert sdata.check_source(src, num_classes=2).class_pixels.tolist() == [64 - 12, 12]


def test_bad_labels_name_file_and_values(tmp_path):
    images, masks = _folders(tmp_path, n=2, num_classes=3)
    bad = np.zeros((20, 24), np.uint8)
    bad[0, 0], bad[1, 1], bad[2, 2] = 7, 9, 255
    _mask(masks / "s1.png", bad)
    src = sdata.open_source(images, masks)
    with pytest.raises(sdata.DatasetError) as e:
        sdata.check_source(src, num_classes=3)
    msg = str(e.value)
    assert "s1.png" in msg and "7" in msg and "9" in msg and "\n" not in msg
    assert "255" not in msg.split("labels")[1].split("]")[0]  # the ignore index is not a bad label


def test_size_mismatch_names_the_pair(tmp_path):
    images, masks = _folders(tmp_path, n=2)
    _mask(masks / "s0.png", np.zeros((10, 10)))
    src = sdata.open_source(images, masks)
    with pytest.raises(
        sdata.DatasetError, match=r"size mismatch: image .*s0\.jpg is 24x20 but mask .*s0\.png is 10x10"
    ):
        sdata.check_source(src, num_classes=3)


def test_missing_layout_and_no_pairs(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(sdata.DatasetError, match="give --masks"):
        sdata.open_source(tmp_path / "empty")
    (tmp_path / "m").mkdir()
    _img(tmp_path / "empty" / "x.jpg")
    with pytest.raises(sdata.DatasetError, match="no image/mask pairs"):
        sdata.open_source(tmp_path / "empty", tmp_path / "m", warn=False)


def test_val_split_is_seeded_and_disjoint(tmp_path):
    images, masks = _folders(tmp_path, n=10)
    src = sdata.open_source(images, masks)
    a_tr, a_val = sdata.split_source(src, 0.3, seed=3)
    b_tr, b_val = sdata.split_source(src, 0.3, seed=3)
    _, c_val = sdata.split_source(src, 0.3, seed=4)
    assert a_val.pairs == b_val.pairs and len(a_val) == 3 and len(a_tr) == 7
    assert not set(a_tr.image_paths) & set(a_val.image_paths)
    assert a_val.pairs != c_val.pairs or a_tr.pairs != c_val.pairs


def test_pipeline_shapes_dtypes_and_padding(tmp_path):
    from suite.unet.tfdata import make_dataset

    images, masks = _folders(tmp_path, n=5, h=20, w=24)
    src = sdata.open_source(images, masks)
    stats = sdata.check_source(src, num_classes=3)
    ds = make_dataset(src, (32, 16), batch_size=2, training=True, seed=0, sizes=stats.sizes)
    batches = list(ds)
    assert len(batches) == 2  # 5 pairs, drop_remainder while training
    x, y = batches[0]
    assert x.shape == (2, 32, 16, 3) and x.dtype.name == "float32"
    assert y.shape == (2, 32, 16) and y.dtype.name == "int32"
    y = y.numpy()
    # 20 rows padded to 32: at least 12 rows per image are ignored padding; labels stay in {0, 1, 2, 255}
    assert set(np.unique(y).tolist()) <= {0, 1, 2, 255}
    assert ((y == 255).sum(axis=(1, 2)) >= 12 * 16).all()
    assert float(x.numpy().max()) <= 255 and float(x.numpy().min()) >= 0
    # validation: centred and deterministic, all pairs
    val = make_dataset(src, (32, 16), batch_size=2, training=False, sizes=stats.sizes)
    v1 = np.concatenate([b[1].numpy() for b in val])
    v2 = np.concatenate([b[1].numpy() for b in val])
    assert v1.shape == (5, 32, 16)
    np.testing.assert_array_equal(v1, v2)
    # the pipeline reads exactly what the suite's readers read
    img0 = np.asarray(Image.open(src.pairs[0][0]).convert("RGB"), np.float32)
    xv = next(iter(val))[0].numpy()[0]
    np.testing.assert_allclose(xv[6:26, :], img0[:, 4:20])
    # class weights come as a third element, zero on ignored pixels
    wds = make_dataset(src, (32, 16), batch_size=2, training=False, class_weights=[1.0, 2.0, 3.0], sizes=stats.sizes)
    _, yw, w = next(iter(wds))
    yw, w = yw.numpy(), w.numpy()
    assert (w[yw == 255] == 0).all() and (w[yw == 2] == 3).all() and (w[yw == 0] == 1).all()


def test_pipeline_resize_mode(tmp_path):
    from suite.unet.tfdata import make_dataset

    images, masks = _folders(tmp_path, n=2, h=20, w=24)
    src = sdata.open_source(images, masks)
    x, y = next(iter(make_dataset(src, 32, 2, training=True, resize_mode="resize")))
    assert x.shape == (2, 32, 32, 3) and y.dtype.name == "int32"
    assert set(np.unique(y.numpy()).tolist()) <= {0, 1, 2}  # nearest: no invented labels


def test_augmentation_fills_ignore_not_class_zero():
    import tensorflow as tf

    from suite.unet.augment import SegmentationAugmenter

    aug = SegmentationAugmenter(flip=True, rotation=0.15, zoom=0.0, translation=0.0, seed=1)
    images = np.full((8, 40, 40, 3), 100.0, np.float32)
    masks = np.ones((8, 40, 40), np.int32)
    x, y = aug(tf.constant(images), tf.constant(masks))
    y = y.numpy()
    assert y.dtype == np.int32 and y.shape == masks.shape and x.shape == images.shape
    assert set(np.unique(y).tolist()) <= {1, 255}
    # rotated corners come from outside the image: ignore, never class 0
    assert (y == 255).sum() > 0 and (y == 0).sum() == 0
    assert (y[:, 0, 0] == 255).mean() > 0.5

    # zoom-out and translation likewise; colour changes leave masks alone
    aug2 = SegmentationAugmenter(rotation=0.0, zoom=0.4, translation=0.3, brightness=0.5, contrast=0.5, seed=2)
    m2 = np.zeros((8, 40, 40), np.int32)
    m2[:, 10:30] = 3
    x2, y2 = aug2(tf.constant(images), tf.constant(m2))
    assert set(np.unique(y2.numpy()).tolist()) <= {0, 3, 255} and (y2.numpy() == 255).any()
    assert not np.allclose(x2.numpy(), 100.0)  # colour jitter did something
    assert float(tf.reduce_min(x2)) >= 0 and float(tf.reduce_max(x2)) <= 255


def test_augmentation_moves_image_and_mask_together():
    import tensorflow as tf

    from suite.unet.augment import SegmentationAugmenter

    aug = SegmentationAugmenter(
        rotation=0.1, zoom=0.2, translation=0.1, brightness=0, contrast=0, saturation=0, hue=0, seed=5
    )
    rng = np.random.default_rng(0)
    m = rng.integers(0, 2, (4, 8, 8)).repeat(8, 1).repeat(8, 2).astype(np.int32)  # 64x64 in blocks of 8x8
    images = np.repeat(m[..., None] * 200.0 + 20.0, 3, axis=-1).astype(np.float32)
    x, y = aug(tf.constant(images), tf.constant(m))
    x, y = x.numpy()[..., 0], y.numpy()
    known = y != 255
    # where the mask says 1 the image is bright, where it says 0 it is dark (interior pixels)
    assert (x[known & (y == 1)] > 110).mean() > 0.9
    assert (x[known & (y == 0)] < 110).mean() > 0.9


def test_no_augment_passthrough():
    from suite.unet.augment import SegmentationAugmenter

    aug = SegmentationAugmenter(seed=0)
    a, b = np.zeros((1, 8, 8, 3), np.float32), np.ones((1, 8, 8), np.int32)
    x, y = aug(a, b, training=False)
    assert x is a and y is b
    with pytest.raises(ValueError, match="Received: zoom=-0.1"):
        SegmentationAugmenter(zoom=-0.1)


def test_one_reason_for_many_masks_is_said_once():
    from suite.unet.data import _more_problems

    same = [f"m/{i}.png: holds only 0 and 255" for i in range(5)]
    text = _more_problems(same)
    assert text.count("holds only") == 0 and "the same for 4 more: m/1.png, m/2.png, m/3.png, ..." in text
    mixed = _more_problems([same[0], "m/9.png: not an image", same[1]])
    assert "the same for 1 more: m/1.png" in mixed and "1 other problem(s); first ones: m/9.png: not an image" in mixed
    assert _more_problems(same[:1]) == ""
