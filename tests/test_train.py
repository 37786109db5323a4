"""`suite train` / `train()`: a tiny run end to end, resume after an interruption, NaN handling."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

TINY = dict(
    backbone=None,
    encoder_filters=(4, 8, 16),
    image_size=32,
    batch_size=2,
    lr=3e-3,
    progress=False,
    tensorboard=False,
    val_split=0.25,
    augment=False,
)


def _dataset(root, n=8, size=40, seed=0):
    """Bright squares (class 1) and dark discs (class 2) on noise."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir(parents=True)
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        img = rng.integers(60, 120, (size, size, 3)).astype(np.uint8)
        mask = np.zeros((size, size), np.uint8)
        cy, cx = rng.integers(10, size - 10, 2)
        if i % 2:
            sel = (abs(yy - cy) < 7) & (abs(xx - cx) < 7)
            img[sel], mask[sel] = 230, 1
        else:
            sel = (yy - cy) ** 2 + (xx - cx) ** 2 < 49
            img[sel], mask[sel] = 10, 2
        Image.fromarray(img).save(root / "images" / f"{i:02d}.png")
        Image.fromarray(mask).save(root / "masks" / f"{i:02d}.png")
    return root / "images", root / "masks"


def _csv_epochs(path):
    with open(path) as fh:
        return [int(r["epoch"]) for r in csv.DictReader(fh)]


def test_cli_train_tiny_end_to_end(tmp_path):
    import keras

    from suite.cli import main

    images, masks = _dataset(tmp_path / "data")
    out, logdir = tmp_path / "m.keras", tmp_path / "logs"
    args = [
        "train",
        "--images",
        str(images),
        "--masks",
        str(masks),
        "--num-classes",
        "3",
        "--backbone",
        "none",
        "--encoder-filters",
        "4,8,16",
        "--image-size",
        "32",
        "--epochs",
        "2",
        "--batch-size",
        "2",
        "--val-split",
        "0.25",
        "--output",
        str(out),
        "--logdir",
        str(logdir),
        "--no-tensorboard",
        "--device",
        "cpu",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "best val mIoU" in result.output and str(out) in result.output
    model = keras.saving.load_model(out)
    y = model(np.zeros((1, 32, 48, 3), np.float32))
    assert tuple(y.shape) == (1, 32, 48, 3)
    assert _csv_epochs(logdir / "log.csv") == [0, 1]
    header = open(logdir / "log.csv").readline()
    for col in ("loss", "miou", "val_loss", "val_miou", "lr"):
        assert col in header
    png = Image.open(logdir / "curves.png")
    assert png.size[0] > 400
    assert not (logdir / "backup").exists()  # a finished run leaves no backup behind
    import json

    options = json.loads((logdir / "options.json").read_text())
    assert options["epochs"] == 2 and options["encoder_filters"] == [4, 8, 16] and options["tensorboard"] is False
    # the same command again refuses to overwrite the model
    again = CliRunner().invoke(main, args)
    assert again.exit_code != 0 and "exists" in again.output


def test_resume_continues_at_the_same_epoch_and_optimizer_state(tmp_path):
    import keras

    from suite.unet.training import train

    images, masks = _dataset(tmp_path / "data")
    out, logdir = tmp_path / "m.keras", tmp_path / "logs"

    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.iterations = int(self.model.optimizer.iterations)
                self.kernel = np.asarray(self.model.trainable_weights[0]).copy()
                raise KeyboardInterrupt  # a kill after epoch 2 was backed up

    class Watch(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seen = []

        def on_epoch_begin(self, epoch, logs=None):
            self.seen.append(
                (epoch, int(self.model.optimizer.iterations), np.asarray(self.model.trainable_weights[0]).copy())
            )

    crash = Crash()
    with pytest.raises(KeyboardInterrupt):
        train(images, masks, 3, epochs=4, out=out, logdir=logdir, callbacks=[crash], **TINY)
    assert (logdir / "backup").exists()
    # Without --resume the old backup is not silently discarded.
    from suite.unet.training import TrainingError

    with pytest.raises(TrainingError, match="--resume"):
        train(images, masks, 3, epochs=4, out=tmp_path / "other.keras", logdir=logdir, **TINY)

    watch = Watch()
    result = train(images, masks, 3, epochs=4, out=out, logdir=logdir, resume=True, callbacks=[watch], **TINY)
    first_epoch, iterations, kernel = watch.seen[0]
    assert first_epoch == 2  # continues at epoch 3 (0-based 2), not from scratch
    assert iterations == crash.iterations > 0  # same optimizer state
    np.testing.assert_array_equal(kernel, crash.kernel)
    assert [e for e, _, _ in watch.seen] == [2, 3]
    assert _csv_epochs(logdir / "log.csv") == [0, 1, 2, 3]
    assert result.epochs_run == 4 and result.model_path == out
    keras.saving.load_model(out)


def test_nan_stops_with_message_and_keeps_last_good_model(tmp_path):
    import keras

    from suite.unet.training import train

    images, masks = _dataset(tmp_path / "data")
    out = tmp_path / "m.keras"

    class Poison(keras.callbacks.Callback):
        """From epoch 2 on the learning rate is absurd, so the weights blow up."""

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                self.good = [np.asarray(w).copy() for w in self.model.weights]

        def on_train_batch_begin(self, batch, logs=None):
            if self._epoch >= 1:
                self.model.optimizer.learning_rate.assign(1e30)
                w = self.model.trainable_weights[0]
                w.assign(w * np.float32("inf"))

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch

    poison = Poison()
    result = train(
        images,
        masks,
        3,
        epochs=4,
        out=out,
        logdir=tmp_path / "logs",
        lr_schedule="constant",
        callbacks=[poison],
        **TINY,
    )
    assert result.stopped == "nan"
    assert "NaN at epoch 2" in result.message and "kept" in result.message and "--lr" in result.message
    assert result.best_epoch == 1
    model = keras.saving.load_model(out)
    for saved, good in zip(model.weights, poison.good):
        np.testing.assert_array_equal(np.asarray(saved), good)
    assert np.isfinite(np.asarray(model(np.zeros((1, 32, 32, 3), np.float32)))).all()


def test_cli_nan_exit_status(tmp_path):
    from suite.cli import main

    images, masks = _dataset(tmp_path / "data", n=4)
    result = CliRunner().invoke(
        main,
        [
            "train",
            "--images",
            str(images),
            "--masks",
            str(masks),
            "--num-classes",
            "3",
            "--backbone",
            "none",
            "--encoder-filters",
            "4,8",
            "--image-size",
            "32",
            "--epochs",
            "2",
            "--batch-size",
            "2",
            "--lr",
            "1e38",
            "--lr-schedule",
            "constant",
            "--no-augment",
            "--output",
            str(tmp_path / "m.keras"),
            "--no-tensorboard",
        ],
    )
    if result.exit_code == 0:
        pytest.skip("the absurd learning rate did not overflow on this platform")
    assert result.exit_code == 3, result.output
    assert "NaN" in result.output and "no epoch finished cleanly" in result.output


def test_bad_labels_with_strict_fail_before_training(tmp_path):
    from suite.cli import main

    images, masks = _dataset(tmp_path / "data", n=4)
    result = CliRunner().invoke(
        main,
        [
            "train",
            "--images",
            str(images),
            "--masks",
            str(masks),
            "--num-classes",
            "2",
            "--backbone",
            "none",
            "--output",
            str(tmp_path / "m.keras"),
            "--strict",
        ],
    )
    assert result.exit_code != 0
    assert "labels 2 are outside 0..1" in result.output and ".png" in result.output
    assert "epoch" not in result.output
    assert not (tmp_path / "m.keras").exists()


def test_cli_defaults_are_the_train_options(tmp_path, monkeypatch):
    """`suite train` with only the required options trains with TrainOptions() exactly; a flag changes one field."""
    import suite.unet.training as library
    from suite.cli import main
    from suite.unet.options import TrainOptions

    seen = []

    def fake_train(images, masks, num_classes, *, options, **kwargs):
        seen.append(options)
        return library.TrainResult(None, None, None, 0, "completed", message="ok")

    monkeypatch.setattr(library, "train", fake_train)
    (tmp_path / "d").mkdir()
    base = ["train", "--images", str(tmp_path / "d"), "--num-classes", "2", "--device", "cpu"]
    for extra in (
        [],
        ["--no-tensorboard", "--freeze-fraction", "0.25", "--class-weights", "1,2", "--backbone", "none"],
    ):
        result = CliRunner().invoke(main, base + extra)
        assert result.exit_code == 0, result.output
    assert seen[0] == TrainOptions()
    assert seen[1] == TrainOptions(tensorboard=False, freeze_fraction=0.25, class_weights=[1.0, 2.0], backbone="none")


def test_train_options_overrides_and_errors(tmp_path):
    from suite.unet.options import TrainOptions
    from suite.unet.training import train

    with pytest.raises(TypeError, match=r"Unknown option\(s\) \['learning_rate'\]"):
        train(tmp_path, tmp_path, 2, learning_rate=1e-3)
    with pytest.raises(ValueError, match="loss='nope'"):
        train(tmp_path, tmp_path, 2, options=TrainOptions(epochs=3), loss="nope")
    with pytest.raises(ValueError, match="freeze_encoder_epochs"):
        train(tmp_path, tmp_path, 2, epochs=3, freeze_encoder_epochs=4)


def test_epoch_cosine_is_a_keras_schedule():
    from suite.unet.options import TrainOptions
    from suite.unet.training import Phase, learning_rate_for

    opts = TrainOptions(lr=1.0, warmup_epochs=1)
    sched = learning_rate_for(Phase(1, 0, 5, 1.0), opts, steps=10)
    rate = lambda step: float(sched(step))  # noqa: E731
    assert rate(0) == pytest.approx(1 / 11) and rate(10) == pytest.approx(1.0)  # linear warm-up over one epoch
    assert rate(30) < rate(20) and rate(50) == pytest.approx(0.01)  # cosine down to 1%
    finetune = learning_rate_for(Phase(2, 5, 10, 0.1), opts, steps=10)  # no warm-up after the switch
    assert float(finetune(0)) == pytest.approx(0.1) and float(finetune(50)) == pytest.approx(0.001)
    assert learning_rate_for(Phase(1, 0, 5, 1.0), TrainOptions(lr_schedule="constant"), 10) == 1.0
    assert learning_rate_for(Phase(1, 0, 5, 1.0, deadline=60), opts, 10) == 1.0  # the clock's cosine sets it


def test_frozen_then_finetune_by_epochs_logs_the_schedule(tmp_path):
    from suite.unet.training import train

    images, masks = _dataset(tmp_path / "data", n=6, size=32)
    result = train(
        images,
        masks,
        3,
        backbone="vgg16",
        weights="none",
        decoder_filters=(8, 8, 8, 8, 8),
        image_size=32,
        batch_size=2,
        progress=False,
        tensorboard=False,
        val_split=0.34,
        augment=False,
        epochs=4,
        freeze_encoder_epochs=2,
        out=tmp_path / "m.keras",
    )
    lrs = [r["lr"] for r in result.history]
    assert len(lrs) == 4 and result.stopped == "completed"
    assert max(lrs[:2]) <= 2e-3 + 1e-9 and lrs[1] < lrs[0]  # frozen phase: past its warm-up, decaying
    assert max(lrs[2:]) <= 2e-4 + 1e-9 and lrs[3] < lrs[2]  # fine-tuning at a tenth, decaying again
    assert result.options["freeze_encoder_epochs"] == 2


def test_plan_phases_fits_the_whole_schedule_in_the_budget():
    from suite.unet.training import Phase, plan_phases

    # Without a budget: epochs decide.
    assert plan_phases(10, 5, 1e-3, 0.1) == [Phase(1, 0, 5, 1e-3), Phase(2, 5, 10, 1e-3 * 0.1)]
    assert plan_phases(10, 0, 1e-3, 0.1) == [Phase(1, 0, 10, 1e-3)]
    # With a budget and automatic freezing: the frozen phase ends at its share, fine-tuning at the budget.
    p1, p2 = plan_phases(50, 25, 2e-3, 0.1, time_budget=240, freeze_fraction=0.25)
    assert (p1.deadline, p2.deadline) == (60, 240)
    # A share of 1: frozen for the whole budget, no fine-tuning phase.
    assert plan_phases(100_000, 50_000, 2e-3, 0.1, time_budget=240, freeze_fraction=1.0) == [
        Phase(1, 0, 100_000, 2e-3, 240)
    ]
    # A frozen-epoch count given by hand keeps the epochs; the budget still ends the run.
    p1, p2 = plan_phases(50, 3, 2e-3, 0.1, time_budget=240)
    assert (p1.last_epoch, p1.deadline, p2.deadline) == (3, 240, 240)


def test_time_cosine_covers_its_slice_of_the_budget():
    from suite.unet.callbacks import TimeBudget, TimeCosine

    clock = TimeBudget(100)
    cos = TimeCosine(clock, 1.0, warmup=0.1, floor=0.01, begin=40, end=100)
    assert cos.rate_at(40) == pytest.approx(0.05)  # warm-up starts low
    assert cos.rate_at(46) == pytest.approx(1.0)  # peak after 10% of the slice
    assert cos.rate_at(100) == pytest.approx(0.01)  # the floor at the deadline
    assert cos.rate_at(73) < cos.rate_at(60)


def test_time_budget_runs_frozen_then_finetune_and_keeps_the_best(tmp_path):
    from suite.unet.training import train

    images, masks = _dataset(tmp_path / "data", n=8, size=32)
    result = train(
        images,
        masks,
        3,
        backbone="vgg16",
        decoder_filters=(8, 8, 8, 8, 8),
        image_size=32,
        batch_size=2,
        progress=False,
        tensorboard=False,
        val_split=0.25,
        augment=False,
        time_budget=40,
        freeze_fraction=0.5,
        out=tmp_path / "m.keras",
        epochs=1000,
    )
    assert result.stopped == "time_budget", result.message
    # Data checks, model build and the last validation come on top, slower when another test shares the CPU;
    # without the budget the run would go on for BUDGET_EPOCHS epochs.
    assert result.train_seconds < 40 + 60
    lrs = [r["lr"] for r in result.history]
    assert len(lrs) >= 2
    assert max(lrs) <= 2e-3 + 1e-9 and lrs[-1] < 2e-4  # the last epoch is in the fine-tuning phase (lr / 10)
    assert result.model_path is not None and result.model_path.exists()


def test_epochs_follow_the_time_budget():
    from suite.unet.options import BUDGET_EPOCHS, DEFAULT_EPOCHS, TrainOptions
    from suite.unet.training import check_run

    assert check_run(TrainOptions(), 2).epochs == DEFAULT_EPOCHS
    assert check_run(TrainOptions(time_budget=60), 2).epochs == BUDGET_EPOCHS  # the budget decides
    assert check_run(TrainOptions(time_budget=60, epochs=3), 2).epochs == 3


class _CrashInEpoch:
    """A callback that interrupts training during epoch ``epoch`` (0-based), after its first batch."""

    def __new__(cls, epoch):
        import keras

        class Crash(keras.callbacks.Callback):
            def on_epoch_begin(self, e, logs=None):
                self.current = e

            def on_train_batch_end(self, batch, logs=None):
                if self.current == epoch:
                    raise KeyboardInterrupt  # as the CLI's SIGTERM handler raises Terminated

        return Crash()


def test_resume_in_the_frozen_phase_runs_each_epoch_once(tmp_path):
    """Interrupted in the frozen phase, the resumed run finishes it and fine-tunes from the next epoch on:
    epochs 0, 1, 2, 3 (not 0, 1, 1, 2, 3: the fine-tuning phase once restarted at the restored epoch)."""
    import keras

    from suite.unet.training import train

    images, masks = _dataset(tmp_path / "data", n=6, size=32)
    out, logdir = tmp_path / "m.keras", tmp_path / "logs"
    kw = dict(
        TINY,
        backbone="vgg16",
        weights="none",
        encoder_filters=None,
        freeze_encoder_epochs=2,
        decoder_filters=(8, 8, 8, 8, 8),
        val_split=0.34,
        epochs=4,
    )
    with pytest.raises(KeyboardInterrupt):
        train(images, masks, 3, out=out, logdir=logdir, callbacks=[_CrashInEpoch(1)], **kw)
    assert _csv_epochs(logdir / "log.csv") == [0]

    class Watch(keras.callbacks.Callback):
        seen = []

        def on_epoch_begin(self, epoch, logs=None):
            # A frozen phase on cached features fits the decoder alone (no encoder layer): frozen.
            has_encoder = any(layer.name == "encoder" for layer in self.model.layers)
            self.seen.append((epoch, has_encoder and self.model.get_layer("encoder").trainable))

    result = train(images, masks, 3, out=out, logdir=logdir, resume=True, callbacks=[Watch()], **kw)
    assert Watch.seen == [(1, False), (2, True), (3, True)]
    assert _csv_epochs(logdir / "log.csv") == [0, 1, 2, 3]
    assert result.epochs_run == 4 and "after 4 epoch(s)" in result.message
    assert 1 <= result.best_epoch <= 4


@pytest.mark.parametrize(
    "change, option",
    [
        (dict(encoder_filters=(4, 8, 8)), "--encoder-filters is 4,8,8, but the interrupted run"),
        (dict(num_classes=4), "--num-classes is 4"),
        (dict(batch_norm=True), "--batch-norm is True"),
    ],
)
def test_resume_with_options_that_do_not_fit_the_backup_names_the_option(tmp_path, change, option):
    from suite.unet.training import TrainingError, train

    images, masks = _dataset(tmp_path / "data", n=6, size=32)
    out, logdir = tmp_path / "m.keras", tmp_path / "logs"
    with pytest.raises(KeyboardInterrupt):
        train(images, masks, 3, epochs=3, out=out, logdir=logdir, callbacks=[_CrashInEpoch(1)], **TINY)
    kw = dict(TINY, epochs=3)
    n = change.pop("num_classes", 3)
    kw.update(change)
    with pytest.raises(TrainingError) as err:
        train(images, masks, n, out=out, logdir=logdir, resume=True, **kw)
    assert option in str(err.value) and "--overwrite" in str(err.value) and "\n" not in str(err.value)
    # the backup is kept: the same options resume it
    result = train(images, masks, 3, out=out, logdir=logdir, resume=True, **dict(TINY, epochs=3))
    assert _csv_epochs(logdir / "log.csv") == [0, 1, 2] and result.epochs_run == 3


def _train_cli(*args):
    from suite.cli import main

    return CliRunner().invoke(
        main,
        [
            "train",
            "--backbone",
            "none",
            "--encoder-filters",
            "4,8,16",
            "--image-size",
            "32",
            "--epochs",
            "1",
            "--batch-size",
            "2",
            "--no-tensorboard",
            *[str(a) for a in args],
        ],
    )


@pytest.mark.parametrize(
    "option, value, num_classes",
    [("--class-weights", "1,2", 3), ("--decoder-filters", "0,-1", 3), ("--encoder-filters", "4,0,16", 3)],
)
def test_option_errors_are_usage_errors_before_any_work(tmp_path, option, value, num_classes):
    out = tmp_path / "out" / "m.keras"
    images, masks = _dataset(tmp_path / "data", n=4)
    for m in masks.iterdir():  # data that fails its check (exit 1): the usage error must come first
        Image.fromarray(np.full((40, 40), 7, np.uint8)).save(m)
    r = _train_cli("--images", images, "--masks", masks, "--num-classes", num_classes, option, value, "-o", out)
    assert r.exit_code == 2 and option in r.output, r.output
    assert not (tmp_path / "out").exists()


def test_a_failed_data_check_leaves_no_empty_folders(tmp_path):
    images, masks = _dataset(tmp_path / "data", n=4)
    for m in masks.iterdir():
        Image.fromarray(np.full((40, 40), 7, np.uint8)).save(m)  # labels outside the classes: nothing usable
    out = tmp_path / "new" / "m.keras"
    r = _train_cli("--images", images, "--masks", masks, "--num-classes", 3, "-o", out)
    assert r.exit_code == 1, r.output
    assert not (tmp_path / "new").exists(), list((tmp_path / "new").rglob("*"))


def test_val_images_without_val_masks_names_the_option(tmp_path):
    images, masks = _dataset(tmp_path / "data", n=4)
    r = _train_cli(
        "--images", images, "--masks", masks, "--num-classes", 3, "--val-images", images, "-o", tmp_path / "m.keras"
    )
    assert r.exit_code == 2 and "--val-masks" in r.output and "give --masks" not in r.output, r.output


def test_an_interrupted_run_without_resume_mentions_resume(tmp_path):
    from suite.common.io.atomic import OutputExistsError
    from suite.unet.training import TrainingError, prepare_paths

    out = tmp_path / "m.keras"
    out.write_bytes(b"model")
    backup = tmp_path / "m_logs" / "backup" / "phase1"
    backup.mkdir(parents=True)
    (backup / "training_metadata.json").write_text("{}")
    with pytest.raises(TrainingError, match="--resume"):
        prepare_paths(out, None, resume=False, overwrite=False)
    (backup / "training_metadata.json").unlink()
    with pytest.raises(OutputExistsError):
        prepare_paths(out, None, resume=False, overwrite=False)


def test_a_logdir_with_an_earlier_runs_logs_is_refused(tmp_path):
    from suite.unet.training import TrainingError, prepare_paths

    logdir = tmp_path / "logs"
    logdir.mkdir()
    (logdir / "log.csv").write_text("epoch,loss\n0,1.0\n")
    with pytest.raises(TrainingError, match="logs of an earlier run.*--overwrite"):
        prepare_paths(tmp_path / "new.keras", logdir, resume=False, overwrite=False)
    assert (logdir / "log.csv").read_text().startswith("epoch")
    prepare_paths(tmp_path / "new.keras", logdir, resume=False, overwrite=True)  # asked for: allowed


@pytest.mark.parametrize(
    "args, hint",
    [
        (["--ignore-index", "300"], "--ignore-index"),
        (["--ignore-index", "-1"], "--ignore-index"),
        (["--class-names", "a,,c"], "--class-names"),
        (["--class-names", "a,b,a"], "--class-names"),
    ],
)
def test_ignore_index_and_class_names_are_checked(tmp_path, args, hint):
    from suite.cli import main

    images, masks = _dataset(tmp_path / "data", n=4)
    for m in masks.iterdir():  # data that fails its check: the usage error must come first
        Image.fromarray(np.full((40, 40), 7, np.uint8)).save(m)
    r = _train_cli("--images", images, "--masks", masks, "--num-classes", 3, *args, "-o", tmp_path / "m.keras")
    assert r.exit_code == 2 and hint in r.output, r.output
    ev = CliRunner().invoke(
        main, ["evaluate", "--predictions", str(masks), "--masks", str(masks), "--num-classes", "3", *args]
    )
    assert ev.exit_code == 2 and hint in ev.output, ev.output


def test_ignore_index_that_is_a_class_warns(tmp_path):
    from suite.cli import main

    _, masks = _dataset(tmp_path / "data", n=2)
    r = CliRunner().invoke(
        main,
        ["evaluate", "--predictions", str(masks), "--masks", str(masks), "--num-classes", "3", "--ignore-index", "2"],
    )
    assert r.exit_code == 0 and "warning: --ignore-index 2 is one of the 3 classes" in r.output, r.output


def test_interrupted_in_the_first_epoch_says_nothing_is_backed_up(tmp_path, monkeypatch):
    """Ctrl-C (or SIGTERM, which the CLI raises the same way) before any epoch finished: the message says
    no epoch is backed up; after one finished epoch it names that epoch, and --resume goes on from it."""
    import suite.unet.training
    from suite.cli import main

    images, masks = _dataset(tmp_path / "data", n=6, size=32)
    out, logdir = tmp_path / "m.keras", tmp_path / "logs"
    library_train = suite.unet.training.train
    crash_in = [0]

    def train_then_interrupt(*args, **kwargs):
        return library_train(*args, callbacks=[_CrashInEpoch(crash_in[0])], **kwargs)

    monkeypatch.setattr(suite.unet.training, "train", train_then_interrupt)
    args = ["train", "--images", str(images), "--masks", str(masks), "--num-classes", "3", "--backbone", "none"]
    args += ["--encoder-filters", "4,8,16", "--image-size", "32", "--epochs", "3", "--batch-size", "2"]
    args += ["--val-split", "0.34", "-o", str(out), "--logdir", str(logdir), "--no-tensorboard", "--no-progress"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 130, r.output
    assert "No epoch had finished, so nothing is backed up" in r.stderr and "Epoch" not in r.stderr, r.stderr
    crash_in[0] = 1  # the re-run with --resume starts over, and is stopped in its second epoch
    r = CliRunner().invoke(main, [*args, "--resume"])
    assert r.exit_code == 130, r.output
    assert "Epoch 1 is backed up; run the same command with --resume to continue from epoch 2." in r.stderr
    assert _csv_epochs(logdir / "log.csv") == [0]


def test_json_history_counts_epochs_from_1_across_a_resume(tmp_path):
    """`--json` history numbers epochs as the messages do (from 1), the epochs before a resume included;
    log.csv keeps Keras' own numbering (from 0)."""
    import json

    from suite.cli import main
    from suite.unet.training import train

    images, masks = _dataset(tmp_path / "data", n=6, size=32)
    out, logdir = tmp_path / "m.keras", tmp_path / "logs"
    with pytest.raises(KeyboardInterrupt):
        train(images, masks, 3, out=out, logdir=logdir, callbacks=[_CrashInEpoch(1)], epochs=3, **TINY)
    args = ["train", "--images", str(images), "--masks", str(masks), "--num-classes", "3", "--backbone", "none"]
    args += ["--encoder-filters", "4,8,16", "--image-size", "32", "--epochs", "3", "--batch-size", "2", "--lr", "3e-3"]
    args += ["--val-split", "0.25", "--no-augment", "-o", str(out), "--logdir", str(logdir), "--no-tensorboard"]
    r = CliRunner().invoke(main, [*args, "--resume", "--json", "--no-progress"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert [h["epoch"] for h in data["history"]] == [1, 2, 3]
    assert data["epochs_run"] == 3 and data["best_epoch"] in (1, 2, 3)
    best = max(data["history"], key=lambda h: h["val_miou"])
    assert best["epoch"] == data["best_epoch"] and f"at epoch {data['best_epoch']};" in data["message"]
    assert _csv_epochs(logdir / "log.csv") == [0, 1, 2]


def test_budget_early_stopping_waits_for_its_share_of_the_budget():
    """Patience counts as usual, but with a time budget no stop comes before ``min_fraction`` of it."""
    import keras

    from suite.unet.callbacks import BudgetEarlyStopping, early_stop_allowed

    assert early_stop_allowed(0, None, 0.7) and early_stop_allowed(10, 240, 0.0)
    assert not early_stop_allowed(167.9, 240, 0.7) and early_stop_allowed(168, 240, 0.7)

    def run(budget, min_fraction, scores, seconds_per_epoch=4.0):
        """The epoch at which training stops (``None``: never), on a fake clock."""
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        now = {"t": 0.0}
        cb = BudgetEarlyStopping(patience=3, budget=budget, min_fraction=min_fraction, clock=lambda: now["t"])
        cb.set_model(model)
        model.stop_training = False
        cb.on_train_begin()
        for epoch, score in enumerate(scores):
            now["t"] = (epoch + 1) * seconds_per_epoch
            cb.on_epoch_end(epoch, {"val_miou": score})
            if model.stop_training:
                return epoch, cb.held_back
        return None, cb.held_back

    flat = [0.5, 0.6] + [0.55] * 60  # best at epoch 1, no gain after
    assert run(None, 0.7, flat) == (4, 0)  # no budget: plain patience, 3 epochs without gain
    assert run(240, 0.0, flat) == (4, 0)  # share 0: the same
    # 240 s, 70%: nothing may stop before 168 s = the end of epoch 41 (4 s each); it stops there.
    stopped, held = run(240, 0.7, flat)
    assert stopped == 41 and held == 41 - 4
    # Gains until epoch 39 (160 s): it stops 3 epochs after the last one, past 168 s.
    rising = [0.01 * i for i in range(40)] + [0.3] * 20
    assert run(240, 0.7, rising) == (42, 0)
    # A stop asked by another callback (the time budget) is never undone.
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    cb = BudgetEarlyStopping(patience=1, budget=240, min_fraction=0.7, clock=lambda: 10.0)
    cb.set_model(model)
    cb.on_train_begin()
    model.stop_training = True
    cb.on_epoch_end(0, {"val_miou": 0.1})
    assert model.stop_training
