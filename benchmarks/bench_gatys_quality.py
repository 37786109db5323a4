"""Gatys time to quality: the suite's default (and candidates) against the TF tutorial's loop, on several pairs.

    flock /tmp/bench.lock .venv/bin/python benchmarks/bench_gatys_quality.py                  # default vs tutorial
    flock /tmp/bench.lock .venv/bin/python benchmarks/bench_gatys_quality.py --pairs astronaut:mosaic \\
        --candidates '[{"optimizer": "lbfgs"}, {"optimizer": "adam", "scales": [0.5, 1]}]'

For each photo/artwork pair, in one process: the photo is resized to ``--size``
on its long side and the artwork to exactly the photo's shape, and both
contestants get those same pixels (the tutorial stretches the artwork to the
photo, the suite keeps the artwork's aspect ratio: pre-resizing removes the
difference). Then

1. the baseline, the TensorFlow style-transfer tutorial's loop
   (``bench_style.tutorial_baseline``: 1000 Keras Adam steps, lr 0.02,
   beta_1 0.99, epsilon 0.1, clip to [0, 1], Gram / (H W), content
   block5_conv2 at 1e4, style 1e-2, TV 1), on the embedded VGG16;
2. the suite's default ``StyleTransfer`` (its optimizer, schedule, averaging)
   given that same objective (layers, weights, normalizations), and any
   ``--candidates`` (JSON overrides of the default).

One referee scores every output: that objective, exact (TV with ``|d|``), at
the pair's size. Printed per pair and candidate: the time ratio
candidate / baseline and the loss ratio candidate / baseline (goal: time
<= 0.25 at loss <= 1), and the evaluations per scale; for ``lbfgs``, also
the evaluations per iteration (how often its line search backtracks).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from bench_style import CONTENT_LAYERS, CONTENT_W, STYLE_LAYERS, STYLE_W, TV_W, make_referee, tutorial_baseline  # noqa: E402

PAIRS = {
    "astronaut": "assets/photos/astronaut.jpg",
    "chelsea": "assets/photos/chelsea.jpg",
    "coffee": "assets/photos/coffee.jpg",
    "rocket": "assets/photos/rocket.jpg",
}
STYLES = {
    "mosaic": "assets/styles/mosaic.jpg",
    "strokes": "assets/styles/strokes.jpg",
    "swirls": "assets/styles/swirls.jpg",
    "fields": "assets/styles/fields.jpg",
}
DEFAULT_PAIRS = ("chelsea:strokes", "coffee:swirls", "rocket:fields")

#: The tutorial's objective, as StyleTransfer options.
OBJECTIVE = dict(
    style_layers=STYLE_LAYERS,
    content_layers=CONTENT_LAYERS,
    style_weight=STYLE_W,
    content_weight=CONTENT_W,
    tv_weight=TV_W,
    normalization="mean",
    content_normalization="mean",
    tv_power=1.0,
)


def same_pixels(photo_name, style_name, size):
    """The photo at ``size`` on its long side, and the artwork resized to exactly its shape."""
    from suite.common.io.images import load_image
    from suite.style.transfer import long_side_shape, resize_image

    content = load_image(ROOT / PAIRS[photo_name])
    h, w = long_side_shape(content.shape, size)
    content = np.clip(resize_image(content, h, w), 0, 255)
    style = np.clip(resize_image(load_image(ROOT / STYLES[style_name]), h, w), 0, 255)
    return content, style


def candidate_run(extractor, content, style, size, overrides):
    """One StyleTransfer run on the tutorial's objective; ``(result, seconds, options, lbfgs_info)``."""
    from suite.style import optimize
    from suite.style.transfer import StyleTransfer

    st = StyleTransfer(style, extractor=extractor, size=size, **{**OBJECTIVE, **overrides})
    infos = []
    real = optimize.lbfgs

    def counting(*a, **k):  # records L-BFGS's evaluations per iteration
        out = real(*a, **k)
        infos.append(out[3])
        return out

    import suite.style.transfer as T

    T.lbfgs = counting
    try:
        t0 = time.perf_counter()
        result = st.transfer(content)
        seconds = time.perf_counter() - t0
    finally:
        T.lbfgs = real
    return result, seconds, st.get_options(), infos


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", nargs="+", default=list(DEFAULT_PAIRS), help="photo:artwork names")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=1000, help="baseline Adam steps")
    p.add_argument("--candidates", default="[]", help="JSON list of StyleTransfer overrides to run besides the default")
    p.add_argument("--no-default", action="store_true", help="run only --candidates")
    p.add_argument("--out", default="", help="folder: save every output image and a JSON of the numbers")
    args = p.parse_args()

    from suite.style.extractor import build_style_extractor

    extractor = build_style_extractor("vgg16", "embedded", STYLE_LAYERS, CONTENT_LAYERS, quiet=True)
    candidates = ([] if args.no_default else [{}]) + json.loads(args.candidates)
    rows = []
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    for pair in args.pairs:
        photo, art = pair.split(":")
        content, style = same_pixels(photo, art, args.size)
        referee = make_referee(extractor, content, style)
        # Warm-up (both): one call of the extractor at this size, and one tiny default run (tracing).
        extractor(content[None])
        candidate_run(extractor, content, style, args.size, {"iterations": 1})
        image, base_s = tutorial_baseline(extractor, content, style, args.steps, None)
        base_J, base_terms = referee(image)
        print(
            f"[{pair} {content.shape[1]}x{content.shape[0]}] tutorial loop: {base_s:6.1f} s  J = {base_J:,.0f}",
            flush=True,
        )
        if out:
            from suite.common.io.images import save_image

            save_image(image, out / f"{photo}_{art}_tutorial.png", overwrite=True)
        for k, cand in enumerate(candidates):
            result, s, options, infos = candidate_run(extractor, content, style, args.size, cand)
            J, terms = referee(result.image)
            per_it = ""
            if infos:
                per_it = "  L-BFGS evaluations/iteration " + ", ".join(
                    f"{i['evaluations'] / max(1, i['iterations']):.2f} ({i['resets']} resets)" for i in infos
                )
            name = json.dumps(cand) if cand else "default"
            print(
                f"[{pair}] {name}: {s:6.1f} s  J = {J:,.0f}  time ratio {s / base_s:.3f} (goal <= 0.25)  "
                f"J ratio {J / base_J:.3f} (goal <= 1)  evaluations {result.evaluations} at {result.sizes}{per_it}",
                flush=True,
            )
            rows.append(
                {
                    "pair": pair,
                    "candidate": name,
                    "seconds": s,
                    "J": J,
                    "baseline_seconds": base_s,
                    "baseline_J": base_J,
                    "time_ratio": s / base_s,
                    "J_ratio": J / base_J,
                    "terms": terms,
                    "optimizer": options["optimizer"],
                    "iterations": options["iterations"],
                    "scales": options["scales"],
                }
            )
            if out:
                from suite.common.io.images import save_image

                save_image(result.image, out / f"{photo}_{art}_cand{k}.png", overwrite=True)
    print()
    print("| pair | candidate | time ratio | J ratio |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['pair']} | {r['candidate']} | {r['time_ratio']:.3f} | {r['J_ratio']:.3f} |")
    for name in dict.fromkeys(r["candidate"] for r in rows):
        sel = [r for r in rows if r["candidate"] == name]
        print(
            f"{name}: worst time ratio {max(r['time_ratio'] for r in sel):.3f}, "
            f"worst J ratio {max(r['J_ratio'] for r in sel):.3f} over {len(sel)} pairs"
        )
    if out:
        (out / "numbers.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
