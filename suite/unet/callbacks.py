"""The callbacks of :func:`suite.unet.training.train`, one class each.

They guard against NaN, keep the best model, back up the training state,
hold a wall-clock budget, set the learning rate, log it, draw the curves and
show progress. Each is an ordinary ``keras.callbacks.Callback``.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from suite.common.io.atomic import temp_file
from suite.common.log import note
from suite.unet.train_logs import plot_curves, read_csv_log


class NanGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss and remembers where."""

    def __init__(self):
        super().__init__()
        self.tripped = None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.tripped is None:
            self.tripped = (self._epoch + 1, batch + 1)
            self.model.stop_training = True

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        # Weights can blow up in the last step of an epoch: the validation loss shows it.
        for key in ("loss", "val_loss"):
            value = (logs or {}).get(key)
            if value is not None and not math.isfinite(float(value)) and self.tripped is None:
                self.tripped = (epoch + 1, None)
                self.model.stop_training = True


class SafeBackupAndRestore(keras.callbacks.BackupAndRestore):
    """BackupAndRestore that never backs up the weights of an epoch that went NaN."""

    def __init__(self, backup_dir, guard, **kwargs):
        super().__init__(backup_dir, **kwargs)
        self.guard = guard

    def on_epoch_end(self, epoch, logs=None):
        if self.guard.tripped is None:
            super().on_epoch_end(epoch, logs)


class BestCheckpoint(keras.callbacks.Callback):
    """Saves the model to ``path`` atomically whenever the monitored value improves.

    Only the chief writes ``path``; other workers write to a temporary
    folder (every worker must take part in saving a distributed model).
    """

    def __init__(self, path, monitor, guard, best=None, is_chief=True):
        super().__init__()
        self.path = Path(path)
        self.monitor = monitor
        self.guard = guard
        self.best = best
        self.best_epoch = None
        self.is_chief = is_chief
        self.save_model = None  # the model to save when it is not the one being fitted (the feature-cache decoder)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if self.guard.tripped is not None or value is None or not math.isfinite(float(value)):
            return
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            return
        if self.best is not None and float(value) <= self.best:
            return
        self.best, self.best_epoch = float(value), epoch + 1
        if self.is_chief:
            target_dir = self.path.parent
        else:
            target_dir = Path(tempfile.mkdtemp(prefix="suite-worker-"))
        target_dir.mkdir(parents=True, exist_ok=True)
        # An ordinary file's permissions (not mkstemp's 0600), which Keras' save keeps.
        fd, tmp = temp_file(target_dir, prefix=f".{self.path.stem}.", suffix=".keras")
        os.close(fd)
        try:
            (self.save_model if self.save_model is not None else self.model).save(tmp, overwrite=True)
            if self.is_chief:
                os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
            if not self.is_chief:
                shutil.rmtree(target_dir, ignore_errors=True)


class TimeBudget(keras.callbacks.Callback):
    """Stops training when the wall-clock budget would be exceeded by one more epoch's validation.

    ``seconds`` counts from ``start`` (default: now), so several phases can
    share one clock: each phase gets a callback whose ``seconds`` is that
    phase's deadline on the run's clock.
    """

    def __init__(self, seconds, start=None):
        super().__init__()
        self.seconds = float(seconds)
        self.start = start or time.monotonic()
        self.val_seconds = 0.0
        self.tripped = False
        self._epoch_end_at = None

    def elapsed(self):
        return time.monotonic() - self.start

    def on_train_batch_end(self, batch, logs=None):
        self._last_batch = time.monotonic()
        if self.elapsed() + self.val_seconds >= self.seconds:
            self.tripped = True
            self.model.stop_training = True

    def on_test_begin(self, logs=None):
        self._test_start = time.monotonic()

    def on_test_end(self, logs=None):
        self.val_seconds = time.monotonic() - self._test_start

    def on_epoch_end(self, epoch, logs=None):
        if self.elapsed() >= self.seconds:
            self.tripped = True
            self.model.stop_training = True


def early_stop_allowed(elapsed: float, budget: float | None, min_fraction: float) -> bool:
    """Whether early stopping may end a run ``elapsed`` seconds into a ``budget`` (``None``: no budget).

    Without a budget, or with ``min_fraction`` 0, always; with one, only once
    ``min_fraction`` of it has passed.

    Example:
        >>> early_stop_allowed(100, 240, 0.7), early_stop_allowed(170, 240, 0.7), early_stop_allowed(5, None, 0.7)
        (False, True, True)
    """
    return not budget or min_fraction <= 0 or elapsed >= min_fraction * budget


class BudgetEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras ``EarlyStopping`` that, with a time budget, never stops before ``min_fraction`` of it.

    The count of epochs without gain goes on meanwhile, so once the share has
    passed, a run that has not improved in ``patience`` epochs stops at the
    next epoch end. ``clock`` returns the seconds elapsed on the run's clock
    (:meth:`TimeBudget.elapsed`); the best model is kept by the checkpoint,
    whenever the run ends.
    """

    def __init__(self, monitor="val_miou", patience=15, budget=None, min_fraction=0.0, clock=None, mode="max"):
        super().__init__(monitor=monitor, mode=mode, patience=patience)
        self.budget, self.min_fraction = budget, float(min_fraction)
        start = time.monotonic()
        self.clock = clock or (lambda: time.monotonic() - start)
        self.held_back = 0  # epochs at which the plain rule would have stopped, held back by the budget rule

    def on_epoch_end(self, epoch, logs=None):
        already = bool(getattr(self.model, "stop_training", False))
        super().on_epoch_end(epoch, logs)
        if already or not self.model.stop_training:
            return
        if not early_stop_allowed(self.clock(), self.budget, self.min_fraction):
            self.model.stop_training = False
            self.stopped_epoch = 0
            self.held_back += 1


class TimeCosine(keras.callbacks.Callback):
    """Learning rate on a cosine over a slice of the wall-clock budget, after a short linear warm-up.

    The slice runs from ``begin`` to ``end`` seconds on ``budget``'s clock
    (default: the whole budget); ``warmup`` is a fraction of the slice.
    """

    def __init__(self, budget, base_lr, warmup=0.03, floor=0.01, begin=0.0, end=None):
        super().__init__()
        self.budget, self.base_lr, self.warmup, self.floor = budget, base_lr, warmup, floor
        self.begin, self.end = float(begin), float(budget.seconds if end is None else end)

    def rate_at(self, elapsed):
        t = min(1.0, max(0.0, (elapsed - self.begin) / max(self.end - self.begin, 1e-9)))
        if t < self.warmup:
            return self.base_lr * max(t / self.warmup, 0.05)
        u = (t - self.warmup) / (1 - self.warmup)
        return self.base_lr * (self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * u)))

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate.assign(self.rate_at(self.budget.elapsed()))


class LogLearningRate(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate (a float, or its schedule's value) to the epoch's logs as ``lr``."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = float(np.asarray(self.model.optimizer.learning_rate))


class CurvesPlot(keras.callbacks.Callback):
    """Redraws ``curves.png`` (loss and mIoU per epoch) from the CSV log after every epoch."""

    def __init__(self, csv_path, png_path, is_chief=True):
        super().__init__()
        self.csv_path, self.png_path, self.is_chief = Path(csv_path), Path(png_path), is_chief

    def on_epoch_end(self, epoch, logs=None):
        if self.is_chief:
            try:
                plot_curves(read_csv_log(self.csv_path), self.png_path)
            except Exception as e:  # a plot must never stop training
                note(f"could not draw training curves: {e}")


class RichProgress(keras.callbacks.Callback):
    """Epoch and batch bars with the latest loss and mIoU (suite.common.ui.progress).

    ``epochs=None`` (a time budget decides) draws the epoch bar without a total.
    """

    def __init__(self, epochs, steps, monitor="miou"):
        super().__init__()
        self.epochs, self.steps, self.monitor = epochs, steps, monitor
        self.progress = None
        self.best = None

    def _ensure(self):
        if self.progress is None:
            from rich.progress import TextColumn

            from suite.common.ui.progress import make_progress

            self.progress = make_progress(TextColumn("{task.fields[info]}"))
            self.progress.start()
            self.epoch_task = self.progress.add_task("epochs", total=self.epochs, info="")
            self.batch_task = self.progress.add_task("batches", total=self.steps, info="")

    def on_train_begin(self, logs=None):
        self._ensure()

    def on_epoch_begin(self, epoch, logs=None):
        self._ensure()
        self.progress.update(
            self.epoch_task,
            completed=epoch,
            description=f"epoch {epoch + 1}" + (f"/{self.epochs}" if self.epochs else ""),
        )
        self.progress.reset(self.batch_task, total=self.steps, info="")

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        info = "  ".join(f"{k} {float(logs[k]):.4f}" for k in ("loss", self.monitor) if k in logs)
        self.progress.update(self.batch_task, completed=batch + 1, info=info)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        v = logs.get(f"val_{self.monitor}")
        if v is not None and (self.best is None or v > self.best):
            self.best = float(v)
        parts = [
            f"{k} {float(logs[k]):.4f}" for k in ("loss", "val_loss", self.monitor, f"val_{self.monitor}") if k in logs
        ]
        if self.best is not None:
            parts.append(f"best val_{self.monitor} {self.best:.4f}")
        self.progress.update(self.epoch_task, completed=epoch + 1, info="  ".join(parts))
        self.progress.console.print(f"epoch {epoch + 1}: " + "  ".join(parts))

    def close(self):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def on_train_end(self, logs=None):
        pass
