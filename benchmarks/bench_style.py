"""Style transfer: the suite's default optimizer against the TF tutorial's loop, on one objective.

    flock /tmp/suite-heavy.lock .venv/bin/python benchmarks/bench_style.py            # time-to-quality
    flock /tmp/suite-heavy.lock .venv/bin/python benchmarks/bench_style.py --flops    # FLOP efficiency
    flock /tmp/suite-heavy.lock .venv/bin/python benchmarks/bench_style.py --memory --sizes 1024 2048
                                                                               # peak memory by size
    flock /tmp/suite-heavy.lock .venv/bin/python benchmarks/bench_style.py --overhead --sizes 256 512
                                                                               # optimizer overhead

Time-to-quality (default): in one process, on the same content/style at 256 px,

1. the baseline, written as the TensorFlow style-transfer tutorial does it:
   ``tf.Variable`` image in [0, 1] initialised to the content, Keras Adam
   (lr 0.02, beta_1 0.99, epsilon 0.1), clip to [0, 1] after each step,
   style weight 1e-2, content weight 1e4, Gram / (H*W), content block5_conv2,
   1000 steps. TV weight 1 instead of the tutorial's 30 (DESIGN.md: with the
   embedded VGG16, TV 30 dominates and the output is a blur);
2. the suite's default ``StyleTransfer`` optimizer and schedule, given options
   that express that same objective.

Both outputs are scored by one referee, that objective (TV included) on the
same features at 256 px. Printed: the ratio of wall times suite / baseline,
both referee losses, and the time at which the suite's best-so-far referee
loss first reached the baseline's final one.

The features: the style extractor the suite builds offline (embedded VGG16,
style block1_conv1..block5_conv1, content block5_conv2), shared by both.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

STYLE_LAYERS = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]
CONTENT_LAYERS = ["block5_conv2"]
STYLE_W, CONTENT_W, TV_W = 1e-2, 1e4, 1.0


def load_pair(content_path, style_path, size):
    from suite.common.io.images import load_image
    from suite.style.transfer import long_side_shape, resize_image

    content = load_image(content_path)
    style = load_image(style_path)
    content = resize_image(content, *long_side_shape(content.shape, size))
    style = resize_image(style, *long_side_shape(style.shape, size))
    return np.clip(content, 0, 255), np.clip(style, 0, 255)


def tutorial_baseline(extractor, content, style, steps, trace):
    """The TF tutorial's loop, kept as the tutorial writes it (image in [0, 1], Keras Adam, clip)."""
    import tensorflow as tf

    def gram_matrix(input_tensor):
        result = tf.linalg.einsum("bijc,bijd->bcd", input_tensor, input_tensor)
        input_shape = tf.shape(input_tensor)
        num_locations = tf.cast(input_shape[1] * input_shape[2], tf.float32)
        return result / num_locations

    def features(image01):  # the tutorial's StyleContentModel: 255 * image, then VGG preprocessing inside
        out = extractor(image01 * 255.0)
        return {n: gram_matrix(out[n]) for n in STYLE_LAYERS}, {n: out[n] for n in CONTENT_LAYERS}

    style_targets = features(tf.constant(style[None] / 255.0))[0]
    content_targets = features(tf.constant(content[None] / 255.0))[1]
    image = tf.Variable(content[None] / 255.0, dtype=tf.float32)
    opt = tf.keras.optimizers.Adam(learning_rate=0.02, beta_1=0.99, epsilon=1e-1)

    def style_content_loss(outputs):
        style_outputs, content_outputs = outputs
        style_loss = tf.add_n([tf.reduce_mean((style_outputs[n] - style_targets[n]) ** 2) for n in STYLE_LAYERS])
        style_loss *= STYLE_W / len(STYLE_LAYERS)
        content_loss = tf.add_n(
            [tf.reduce_mean((content_outputs[n] - content_targets[n]) ** 2) for n in CONTENT_LAYERS]
        )
        content_loss *= CONTENT_W / len(CONTENT_LAYERS)
        return style_loss + content_loss

    @tf.function()
    def train_step(image):
        with tf.GradientTape() as tape:
            outputs = features(image)
            loss = style_content_loss(outputs)
            loss += TV_W * tf.image.total_variation(image)
        grad = tape.gradient(loss, image)
        opt.apply_gradients([(grad, image)])
        image.assign(tf.clip_by_value(image, 0.0, 1.0))
        return loss

    start = time.perf_counter()
    for i in range(steps):
        loss = train_step(image)
        if trace is not None and (i % 10 == 0 or i == steps - 1):
            trace.append((time.perf_counter() - start, float(np.asarray(loss).reshape(-1)[0])))
    seconds = time.perf_counter() - start
    return image.numpy()[0] * 255.0, seconds


def make_referee(extractor, content, style):
    """The objective both runs are scored by: ``J(x)`` for an image in [0, 255]."""
    from suite.style.losses import gram_matrix, style_transfer_objective

    cf = extractor(content[None])
    sf = extractor(style[None])
    content_targets = {n: cf[n] for n in CONTENT_LAYERS}
    style_targets = [{n: gram_matrix(sf[n], "mean") for n in STYLE_LAYERS}]

    def referee(image):
        x = np.clip(np.asarray(image, np.float32), 0, 255)[None]
        total, terms = style_transfer_objective(
            x, extractor(x), content_targets, style_targets, STYLE_W, CONTENT_W, TV_W
        )
        return float(total), {k: float(v) for k, v in terms.items()}

    return referee


def suite_run(extractor, content, style, size, trace, referee_every=0, **overrides):
    from suite.style.transfer import StyleTransfer

    kwargs = dict(
        style_layers=STYLE_LAYERS,
        content_layers=CONTENT_LAYERS,
        style_weight=STYLE_W,
        content_weight=CONTENT_W,
        tv_weight=TV_W,
        normalization="mean",
        content_normalization="mean",
        tv_power=1.0,
        size=size,
        extractor=extractor,
    )
    kwargs.update(overrides)
    st = StyleTransfer(style, **kwargs)
    st.style_targets(round(size * st.scales[0]))  # compile-free warm cache is part of the run anyway
    start = [None]

    def cb(info):
        if trace is not None and info["scale"] == info["scales"] - 1 and info["step"] % 10 == 0:
            trace.append((time.perf_counter() - start[0], info["loss"]))

    start[0] = time.perf_counter()
    result = st.transfer(content, callback=cb)
    return result, st.get_options()


def milestones(trace, steps=(0, 50, 100, 200, 290)):
    """``"step 50: J 25,000 at 12.0 s; ..."``: the final scale's loss and time at a few evaluations.

    The trace holds ``(seconds since the run started, loss)`` every 10
    evaluations of the final scale, so entry ``k`` is evaluation ``10 k``.
    """
    parts = [f"eval {k}: {trace[k // 10][1]:,.0f} at {trace[k // 10][0]:.0f} s" for k in steps if k // 10 < len(trace)]
    return "final scale, " + "; ".join(parts)


def warm_up(extractor, size):
    """Builds the graphs once so neither contestant pays TensorFlow's first-call costs."""
    x = np.zeros((1, size, size, 3), np.float32)
    extractor(x)


def time_to_quality(args):
    from suite.style.extractor import build_style_extractor

    extractor = build_style_extractor("vgg16", "embedded", STYLE_LAYERS, CONTENT_LAYERS, quiet=True)
    content, style = load_pair(args.content, args.style, args.size)
    referee = make_referee(extractor, content, style)
    warm_up(extractor, args.size)
    overrides = json.loads(args.suite_options) if args.suite_options else {}

    # The suite's run is measured twice (first includes tracing); the baseline's tf.function traces on step 1 too.
    s_trace = []
    t0 = time.perf_counter()
    result, options = suite_run(extractor, content, style, args.size, s_trace, **overrides)
    suite_seconds = time.perf_counter() - t0
    suite_ref, suite_terms = referee(result.image)
    print(
        f"suite   : {suite_seconds:7.1f} s  referee J = {suite_ref:,.0f}  {suite_terms}  evaluations={result.evaluations} sizes={result.sizes}",
        flush=True,
    )
    print(f"          {milestones(s_trace)}", flush=True)

    if args.baseline_json and Path(args.baseline_json).is_file():
        base = json.loads(Path(args.baseline_json).read_text())
        print(f"baseline: (from {args.baseline_json}, measured in an earlier process)")
    else:
        b_trace = []
        image, seconds = tutorial_baseline(extractor, content, style, args.steps, b_trace)
        ref, terms = referee(image)
        base = {"seconds": seconds, "referee": ref, "terms": terms, "trace": b_trace, "steps": args.steps}
        if args.out:
            from suite.common.io.images import save_image

            save_image(image, Path(args.out) / "baseline.png", overwrite=True)
        if args.baseline_json:
            Path(args.baseline_json).write_text(json.dumps(base))
    print(f"baseline: {base['seconds']:7.1f} s  referee J = {base['referee']:,.0f}  {base['terms']}", flush=True)
    if args.out:
        from suite.common.io.images import save_image

        save_image(result.image, Path(args.out) / "suite.png", overwrite=True)
    reached = next((t for t, loss in s_trace if loss <= base["referee"]), None)
    for extra in json.loads(args.also) if args.also else []:
        tr = []
        t0 = time.perf_counter()
        r, _ = suite_run(extractor, content, style, args.size, tr, **extra)
        dt = time.perf_counter() - t0
        J, terms = referee(r.image)
        hit = next((t for t, loss in tr if loss <= base["referee"]), None)
        print(
            f"also {json.dumps(extra)}: {dt:.1f} s (ratio {dt / base['seconds']:.3f}) referee J = {J:,.0f} "
            f"(suite/baseline {J / base['referee']:.3f}); reached the baseline's J: "
            + (f"after {hit:.1f} s (ratio {hit / base['seconds']:.3f})" if hit is not None else "no"),
            flush=True,
        )
        print(f"          {milestones(tr)}", flush=True)
    ratio = suite_seconds / base["seconds"]
    print(
        f"time ratio suite/baseline = {ratio:.3f}  (goal <= 0.25);  referee suite/baseline = {suite_ref / base['referee']:.3f}  (goal <= 1)"
    )
    if reached is not None:
        print(
            f"the suite's loss first reached the baseline's final J after {reached:.1f} s (ratio {reached / base['seconds']:.3f})"
        )
    baseline_at = {}
    for frac in (0.25, 0.5):
        t_lim = frac * base["seconds"]
        seen = [loss for t, loss in base["trace"] if t <= t_lim]
        if seen:
            baseline_at[frac] = seen[-1]
    print("baseline J at 0.25 / 0.5 of its time:", {k: f"{v:,.0f}" for k, v in baseline_at.items()})
    print(
        "suite options:",
        json.dumps(
            {
                k: options[k]
                for k in (
                    "optimizer",
                    "iterations",
                    "scales",
                    "parametrization",
                    "step_size",
                    "corrections",
                    "learning_rate",
                    "beta_1",
                    "epsilon",
                )
            }
        ),
    )


def conv_flops(extractor, h, w):
    """Multiply-adds x2 of every conv in the extractor for one forward pass at (h, w)."""
    import keras

    # Shapes are symbolic (None); compute by propagating sizes through the VGG blocks.
    total = 0
    hh, ww = h, w
    for layer in extractor.layers:
        if isinstance(layer, keras.layers.MaxPooling2D):
            hh, ww = hh // 2, ww // 2
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            total += 2 * hh * ww * kh * kw * cin * cout
    return total


def conv_peak(dtype="float32"):
    """The best rate (FLOP/s) of a few large 3x3 convs (the shapes VGG is made of) in ``dtype``, forward only."""
    import tensorflow as tf

    peak = 0.0
    for hw, cin, cout in ((128, 128, 128), (64, 256, 256), (32, 512, 512)):
        x = tf.cast(tf.random.normal((1, hw, hw, cin)), dtype)
        k = tf.cast(tf.random.normal((3, 3, cin, cout)), dtype)
        f = tf.function(lambda a, b: tf.nn.conv2d(a, b, 1, "SAME"))
        f(x, k)
        reps = 20
        t = time.perf_counter()
        for _ in range(reps):
            y = f(x, k)
        _ = y.numpy()
        dt = (time.perf_counter() - t) / reps
        peak = max(peak, 2 * hw * hw * 9 * cin * cout / dt)
    return peak


def flop_efficiency(args):
    """Per-evaluation FLOP rate of the suite's loss-and-gradient vs the machine's measured conv peak.

    The peak is measured in the precision the evaluation's convolutions run in (bfloat16 by default on a
    CPU with bfloat16 instructions) and, for reference, in float32.
    """
    from suite.style.extractor import build_style_extractor
    from suite.style.transfer import StyleTransfer

    size = args.size
    extractor = build_style_extractor("vgg16", "embedded", quiet=True)  # the suite's default layers
    content = np.random.default_rng(0).uniform(0, 255, (size, size, 3)).astype(np.float32)
    st = StyleTransfer(content, size=size, scales=(1.0,), iterations=1, extractor=extractor)
    precision = st.feature_precision
    peaks = {d: conv_peak(d) for d in dict.fromkeys([precision, "float32"])}
    vg = st._objective()
    from suite.style.grad import to_backend

    feats = st._features(content)
    args_ = (to_backend({n: feats[n] for n in st.content_layers}), to_backend(st.style_targets(size)), [1.0], None)
    x = content[None]
    vg(x, *args_)
    reps = 5
    t = time.perf_counter()
    for _ in range(reps):
        vg(x, *args_)
    dt = (time.perf_counter() - t) / reps
    fwd = conv_flops(extractor, size, size)
    # The gradient of a conv w.r.t. its input costs one forward's FLOPs; weight gradients are not
    # needed (the tape watches only the pixels), so one evaluation is 2x the forward convs. Gram,
    # pooling and loss FLOPs are left out: they are the overhead this figure is about.
    useful = 2 * fwd
    for d, peak in peaks.items():
        print(f"conv peak in {d} (best of 3 VGG-shaped convs): {peak / 1e9:.1f} GFLOP/s")
    print(
        f"suite loss+gradient at {size} px ({precision} convolutions): {dt * 1e3:.0f} ms, conv FLOPs "
        f"{useful / 1e9:.1f} G -> {useful / dt / 1e9:.1f} GFLOP/s"
    )
    print(f"efficiency = {useful / dt / peaks[precision]:.2f} of the {precision} peak (goal >= 0.85)")
    if precision != "float32":
        print(f"           ({useful / dt / peaks['float32']:.2f} of the float32 peak)")


def _bare_loop(step):
    """``run(x, n, lr, *args) -> (x, loss)``: ``n`` evaluations of ``step`` in one compiled ``fori_loop``.

    The least an optimizer can do between evaluations (a clipped gradient step, so that every evaluation
    depends on the last and none can be hoisted out of the loop): the reference of ``--overhead``.
    """
    from keras import ops

    def run(x, n, lr, *args):
        def body(i, carry):
            x, _ = carry
            loss, _, g = step(x, *args)
            return ops.clip(x - lr * g, 0.0, 255.0), loss

        return ops.fori_loop(0, n, body, (x, ops.convert_to_tensor(np.float32(0.0))))

    return run


def optimizer_overhead(args):
    """Per-evaluation time of each optimizer over the bare compiled loss-and-gradient, one process per call.

    At each ``--sizes`` (square, the astronaut photo and the mosaic, the suite's default objective and
    feature precision, one scale): ``--evaluations`` evaluations of

    * bare: the on-device loss-and-gradient in one compiled ``fori_loop`` (:func:`_bare_loop`);
    * lbfgs: the on-device L-BFGS (:func:`suite.style.optimize.lbfgs`, default corrections, no callback:
      one compiled call; its line-search evaluations count as evaluations);
    * adam: the on-device Adam (:func:`suite.style.optimize.adam`, one compiled call);
    * lbfgsb: scipy's L-BFGS-B on the host (:func:`suite.style.optimize.lbfgsb_scipy`, default
      corrections; each evaluation copies the image out and the gradient back);
    * calls (with ``--with-calls``): the same compiled loss-and-gradient called once per evaluation from
      Python (tensors kept on the device), for comparison.

    Each is compiled and run once first, then timed ``--rounds`` times in interleaved order; the
    per-evaluation time is the best round's. Ratios are to bare, measured in the same process.
    """
    from keras import ops

    from suite.common.io.images import load_image
    from suite.style.grad import compile_loop, to_backend
    from suite.style.optimize import adam, adam_loop, lbfgs, lbfgs_loop, lbfgsb_scipy
    from suite.style.transfer import StyleTransfer, resize_image

    photo, art = load_image(args.content), load_image(args.style)
    n = args.evaluations
    summary = []

    def measure(size):
        content = np.clip(resize_image(photo, size, size), 0, 255)
        st = StyleTransfer(
            art, backbone="vgg16", weights="embedded", size=size, scales=(1.0,), iterations=1, quiet=True
        )
        vg = st._objective()
        feats = st._features(content)
        targets = to_backend({k: feats[k] for k in st.content_layers})
        extra = (targets, to_backend(st.style_targets(size)), [1.0], None)
        x0 = content[None].astype(np.float32)
        o = st.options
        bare = compile_loop(_bare_loop(vg.on_device))
        lr = ops.convert_to_tensor(np.float32(1e-3))
        init, run = lbfgs_loop(vg.on_device, x0.shape, o.corrections)
        lb_loops = compile_loop(init), compile_loop(run)
        adam_run = compile_loop(adam_loop(vg.on_device))
        seen = {}

        def t_bare(k):
            out = bare(ops.convert_to_tensor(x0), ops.convert_to_tensor(np.int32(k)), lr, *extra)
            float(ops.convert_to_numpy(out[1]))
            return k

        def t_calls(k):
            x = ops.convert_to_tensor(x0)
            for _ in range(k):
                loss, _, g = vg.on_device(x, *extra)
            float(ops.convert_to_numpy(loss))
            return k

        def t_lbfgs(k):
            _, _, _, info = lbfgs(vg.on_device, x0, k, None, o.step_size, o.corrections, loops=lb_loops, args=extra)
            seen["lbfgs"] = info
            return info["evaluations"]

        def t_adam(k):
            adam(vg.on_device, x0, k, None, o.learning_rate, o.beta_1, o.beta_2, o.epsilon, loop=adam_run, args=extra)
            return k

        def t_scipy(k):
            count = [0]

            def f(xx):
                count[0] += 1
                return vg(xx, *extra)

            lbfgsb_scipy(f, x0, k, None, o.parametrization, o.step_size, o.corrections)
            return count[0]

        contestants = {"bare": t_bare, "lbfgs": t_lbfgs, "adam": t_adam, "lbfgsb": t_scipy}
        if args.with_calls:
            contestants["calls"] = t_calls
        for fn in contestants.values():  # compile (and trace) each once
            fn(3)
        best = {name: float("inf") for name in contestants}
        for r in range(args.rounds):
            order = list(contestants) if r % 2 == 0 else list(reversed(contestants))
            for name in order:
                t = time.perf_counter()
                evals = contestants[name](n)
                best[name] = min(best[name], (time.perf_counter() - t) / evals)
        base = best["bare"]
        print(
            f"{size} px ({st.feature_precision} features, {n} evaluations x {args.rounds} rounds, "
            f"load {open('/proc/loadavg').read().split()[0]}): bare {base * 1e3:.0f} ms/evaluation",
            flush=True,
        )
        for name in [c for c in contestants if c != "bare"]:
            ratio = best[name] / base
            summary.append((size, name, ratio))
            print(
                f"  {name:7s} {best[name] * 1e3:7.0f} ms/evaluation  ratio {ratio:.3f}  overhead {100 * (ratio - 1):+.1f}%"
                + (f"  (L-BFGS: {seen['lbfgs']})" if name == "lbfgs" else ""),
                flush=True,
            )

    for size in args.sizes:
        measure(size)
    print("goal: each optimizer's overhead over bare <= 5% on CPU")
    for size, name, ratio in summary:
        if name != "calls":
            print(f"  {size} px {name:7s} {100 * (ratio - 1):+.1f}% -> {'met' if ratio <= 1.05 else 'NOT met'}")


def _rss_bytes(pid="self"):
    """Current resident set size of a process (Linux ``/proc``), in bytes; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def _mem_available_bytes():
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def _memory_child(args):
    """One measured run, in its own process: the user's path at ``--size``, progress on stderr, result on stdout."""
    import resource

    t_start = time.perf_counter()
    from suite.common.io.images import load_image
    from suite.style.transfer import DEFAULTS, StyleTransfer

    content = load_image(args.content)
    style = load_image(args.style)
    coarse = len(DEFAULTS["scales"]) - 1
    # Defaults throughout (the default optimizer and corrections, scales 0.5 then 1) except the
    # evaluation counts: enough at the last scale to fill the L-BFGS history.
    st = StyleTransfer(
        style,
        backbone="vgg16",
        weights="embedded",
        size=args.size,
        quiet=True,
        iterations=[args.coarse_evaluations] * coarse + [args.final_evaluations],
    )
    maxrss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # noqa: E731  (KiB on Linux)
    t_setup = time.perf_counter() - t_start
    log = {"scale_peak": {}, "scale_seconds": {}}
    last = [time.perf_counter()]

    def cb(info):
        now = time.perf_counter()
        k = info["scale"]
        log["scale_peak"][k] = maxrss()
        log["scale_seconds"][k] = log["scale_seconds"].get(k, 0.0) + now - last[0]
        last[0] = now
        h, w = info["size"]
        print(
            f"  [{args.size} px] scale {k + 1}/{info['scales']} {w}x{h} evaluation {info['step']}/{info['steps']}: "
            f"{now - t_start:6.0f} s, RSS {_rss_bytes() / 2**30:5.2f} GiB, peak {maxrss() / 2**30:5.2f} GiB",
            file=sys.stderr,
            flush=True,
        )

    last[0] = time.perf_counter()
    result = st.transfer(content, callback=cb)
    out = {
        "size": args.size,
        "sizes": result.sizes,
        "evaluations": result.evaluations,
        "seconds_total": time.perf_counter() - t_start,
        "seconds_setup": t_setup,
        "seconds_transfer": result.seconds,
        "scale_seconds": log["scale_seconds"],
        "scale_peak": log["scale_peak"],
        "peak": maxrss(),
        "corrections": st.corrections,
        "parametrization": st.parametrization,
        "optimizer": st.optimizer,
        "feature_dtype": result.feature_dtype,
    }
    print("RESULT " + json.dumps(out), flush=True)


def peak_memory(args):
    """Peak resident memory and wall time of the user's stylize path, one child process per size.

    Each size runs today's defaults (the default optimizer with its default
    corrections, the default feature precision, the default scales, embedded
    VGG16, a real photo and artwork) with ``--coarse-evaluations`` at each
    coarser scale and ``--final-evaluations`` at full size; the default for the
    latter is corrections + 5, so L-BFGS's history (``corrections`` pairs of
    vectors the size of the image: float32 on the device for ``lbfgs``, float64
    on the host for ``lbfgsb``) is full when the peak is read. The summary
    names the optimizer, corrections and feature precision that ran. The peak is the child's ``ru_maxrss``. The parent
    watches the child's RSS and the machine's free memory and kills the child
    before it can push the shared machine into swap or the OOM killer.
    """
    from suite.style.transfer import DEFAULTS, StyleTransfer  # noqa: F401  (fail early if the suite is broken)

    limit = args.memory_limit_gib * 2**30
    final = args.final_evaluations if args.final_evaluations is not None else DEFAULTS["corrections"] + 5
    rows = []
    for size in args.sizes:
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--_memory-child",
            "--size",
            str(size),
            "--content",
            args.content,
            "--style",
            args.style,
            "--coarse-evaluations",
            str(args.coarse_evaluations),
            "--final-evaluations",
            str(final),
        ]
        print(f"{size} px: running {' '.join(cmd[1:])}", flush=True)
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        killed = None
        watched_peak = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            rss = _rss_bytes(proc.pid)
            watched_peak = max(watched_peak, rss)
            if killed is None and (rss > limit or _mem_available_bytes() < args.min_free_gib * 2**30):
                killed = (
                    f"killed at RSS {rss / 2**30:.1f} GiB (limit {args.memory_limit_gib} GiB, "
                    f"machine's available memory {_mem_available_bytes() / 2**30:.1f} GiB)"
                )
                proc.kill()
            time.sleep(0.1)
        dt = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out = proc.stdout.read()
        result = next((json.loads(line[7:]) for line in out.splitlines() if line.startswith("RESULT ")), None)
        if killed or result is None:
            print(
                f"{size} px: did not finish: {killed or f'exit status {proc.returncode}'}; "
                f"child peak RSS {usage.ru_maxrss / 2**20:.2f} GiB after {dt:.0f} s",
                flush=True,
            )
            rows.append((size, None, dt, killed or "failed"))
            continue
        peak = usage.ru_maxrss * 1024
        rows.append((size, peak, dt, result))
        per_scale = ", ".join(
            f"{w}x{h}: {n} evaluations in {result['scale_seconds'].get(str(i), 0):.0f} s, peak so far "
            f"{result['scale_peak'].get(str(i), 0) / 2**30:.2f} GiB"
            for i, ((h, w), n) in enumerate(zip(result["sizes"], result["evaluations"]))
        )
        print(
            f"{size} px: peak RSS {peak / 2**30:.2f} GiB, wall {dt:.0f} s (setup {result['seconds_setup']:.0f} s, "
            f"transfer {result['seconds_transfer']:.0f} s); {per_scale}",
            flush=True,
        )
    print()
    ran = next((r for _, peak, _, r in rows if peak is not None), None)
    what = (
        f"optimizer {ran['optimizer']}, {ran['corrections']} corrections, {ran['feature_dtype']} features"
        if ran
        else f"optimizer {DEFAULTS['optimizer']}"
    )
    print(
        f"Peak memory of stylize (embedded VGG16, {what}, {args.coarse_evaluations} evaluations at each coarser "
        f"scale + {final} at full size, {Path(args.content).name} + {Path(args.style).name}):"
    )
    for size, peak, dt, result in rows:
        if peak is None:
            print(f"  {size:5d} px: did not finish ({result}), {dt:.0f} s")
        else:
            (h, w) = result["sizes"][-1]
            print(f"  {size:5d} px ({w}x{h}): peak RSS {peak / 2**30:6.2f} GiB, wall {dt:6.0f} s")
    for goal_size in (1024, 2048):
        at = next((peak for size, peak, _, _ in rows if size == goal_size and peak is not None), None)
        if at is not None:
            print(
                f"goal: peak at {goal_size} px under 8 GiB: {at / 2**30:.2f} GiB -> {'met' if at < 8 * 2**30 else 'NOT met'}"
            )
    done = [size for size, peak, _, _ in rows if peak is not None and peak < 24 * 2**30]
    if done:
        print(f"largest size measured that finished within 24 GiB: {max(done)} px")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--content", default=str(ROOT / "assets/photos/astronaut.jpg"))
    p.add_argument("--style", default=str(ROOT / "assets/styles/mosaic.jpg"))
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=1000, help="baseline Adam steps")
    p.add_argument("--suite-options", default="", help="JSON overrides for StyleTransfer (experiments)")
    p.add_argument("--baseline-json", default="", help="cache the baseline's result here (experiments only)")
    p.add_argument("--out", default="", help="folder to save both outputs")
    p.add_argument("--also", default="", help="JSON list of extra StyleTransfer overrides to run in the same process")
    p.add_argument("--flops", action="store_true", help="measure FLOP efficiency instead")
    p.add_argument("--memory", action="store_true", help="measure peak memory instead")
    p.add_argument("--overhead", action="store_true", help="per-evaluation overhead of each optimizer instead")
    p.add_argument("--evaluations", type=int, default=20, help="--overhead: evaluations per timed run")
    p.add_argument("--rounds", type=int, default=2, help="--overhead: timed runs of each (best kept)")
    p.add_argument("--with-calls", action="store_true", help="--overhead: also time one Python call per evaluation")
    p.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048], help="--memory: long sides to run")
    p.add_argument("--coarse-evaluations", type=int, default=5, help="--memory: evaluations at half size")
    p.add_argument(
        "--final-evaluations",
        type=int,
        default=None,
        help="--memory: evaluations at full size (default: the default corrections + 5, a full L-BFGS history)",
    )
    p.add_argument("--memory-limit-gib", type=float, default=20.0, help="--memory: kill a child whose RSS passes this")
    p.add_argument(
        "--min-free-gib",
        type=float,
        default=1.0,
        help="--memory: kill the child when the machine's available memory drops below this",
    )
    p.add_argument("--_memory-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args._memory_child:
        _memory_child(args)
    elif args.flops:
        flop_efficiency(args)
    elif args.memory:
        peak_memory(args)
    elif args.overhead:
        optimizer_overhead(args)
    else:
        time_to_quality(args)


if __name__ == "__main__":
    main()
