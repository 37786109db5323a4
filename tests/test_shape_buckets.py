"""Bounded input shapes for backends that compile per shape (JAX): few sizes, same masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from suite.unet import predict as P

ROOT = Path(__file__).resolve().parents[1]


def test_bucket_sides_are_few_padded_multiples_of_the_stride():
    for stride in (1, 16, 32):
        sides = [P.bucket_side(n, stride) for n in range(1, 4097)]
        assert all(s % stride == 0 and s >= n for n, s in enumerate(sides, 1))
        assert sides == sorted(sides)  # a larger image never gets a smaller bucket
        own = [-(-n // stride) * stride for n in range(1, 4097)]
        assert max(s / o for s, o in zip(sides, own)) <= 1.25  # at most a quarter more per side
    assert len({P.bucket_side(n, 32) for n in range(1, 4097)}) <= 24
    assert P._power_of_two_parts(7) == [4, 2, 1] and P._power_of_two_parts(8) == [8]


class _Spy:
    """Records the batch shapes a model is called with (``predict_on_batch``)."""

    def __init__(self, model):
        self.model, self.shapes = model, []
        self.whole_image = getattr(model, "whole_image", False)

    def predict_on_batch(self, batch):
        self.shapes.append(batch.shape)
        return self.model.predict_on_batch(batch)


def test_batches_and_sizes_are_bucketed_and_cropped_back(monkeypatch):
    from tests.helpers import tiny_segmenter

    model = tiny_segmenter(3, seed=1)
    spy = _Spy(model)
    monkeypatch.setattr(P, "with_head", lambda m, head="logits": m)  # the spy sees the calls
    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 255, (h, w, 3)).astype(np.float32) for h, w in [(170, 90), (64, 64), (33, 330)] * 2 + [(40, 40)]
    ]
    out = P.predict_batch(spy, images, stride=32, buckets=True)
    assert [o.shape[:2] for o in out] == [im.shape[:2] for im in images]
    # padded to (192, 352) by the stride, to (192, 384) by the ladder, in parts of 4, 2 and 1 images
    assert [s[0] for s in spy.shapes] == [4, 2, 1] and {s[1:3] for s in spy.shapes} == {(192, 384)}
    # the same logits as one call at the batch's own padded size, up to the extra padding's reach
    plain = P.predict_batch(model, images, stride=32, buckets=False)
    for a, b in zip(out, plain):
        assert np.mean(np.argmax(a, -1) == np.argmax(b, -1)) >= 0.99


def test_whole_image_models_are_never_padded_only_split():
    class WholeImage:
        whole_image = True

        def __init__(self):
            self.shapes = []

        def predict_on_batch(self, batch):
            self.shapes.append(batch.shape)
            return np.zeros(batch.shape[:3] + (2,), np.float32)

    model = WholeImage()
    images = [np.zeros((37, 51, 3), np.float32)] * 3
    P.predict_batch(model, images, stride=1, head="logits", buckets=True)
    assert model.shapes == [(2, 37, 51, 3), (1, 37, 51, 3)]


@pytest.mark.slow
def test_bucketed_masks_agree_with_per_size_masks_on_the_demo_model():
    from suite.unet.model_io import load_segmentation

    model, meta = load_segmentation(ROOT / "assets" / "demo_unet.keras")
    photos = (
        sorted((ROOT / "assets" / "photos").glob("*.jpg"))
        + sorted((ROOT / "assets" / "segdata" / "val" / "images").glob("*"))[:6]
    )
    agree = []
    for path in photos:
        image = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
        per_size = P.predict_batch(model, [image], stride=meta.stride, head="mask", buckets=False)[0]
        bucketed = P.predict_batch(model, [image], stride=meta.stride, head="mask", buckets=True)[0]
        assert bucketed.shape == per_size.shape == image.shape[:2]
        agree.append(np.mean(bucketed == per_size))
    assert min(agree) >= 0.995, dict(zip([p.name for p in photos], agree))


def test_whole_image_presets_run_in_stages_with_the_same_result():
    from suite.unet.presets import load_preset

    model = load_preset("person")
    rng = np.random.default_rng(0)
    photo = np.asarray(Image.open(ROOT / "assets" / "photos" / "astronaut.jpg").convert("RGB"), dtype=np.float32)
    images = [photo[:300, :451], photo[40:440, 10:490], rng.uniform(0, 255, (97, 130, 3)).astype(np.float32)]
    for image in images:
        whole = P.predict_batch(model, [image], stride=1, head="probabilities", buckets=False)[0]
        staged = P.predict_batch(model, [image], stride=1, head="probabilities", buckets=True)[0]
        assert staged.shape == whole.shape == image.shape[:2] + (2,)
        np.testing.assert_allclose(staged, whole, atol=1e-4)
    to_network, network, _ = model.prediction_stages()
    assert network is model.network and to_network.output.shape[1:3] == (256, 256)
    assert len(model.weights) == len(model.network.weights)  # the stages add nothing to the saved model
