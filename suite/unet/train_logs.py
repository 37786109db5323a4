"""Training logs: reading the CSV log and drawing the curves PNG."""

from __future__ import annotations

import csv
import math
from pathlib import Path


def read_csv_log(path) -> list[dict]:
    """Rows of a Keras CSVLogger file as dicts of floats (``epoch`` 0-based, as Keras writes it)."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            out = {}
            for k, v in row.items():
                try:
                    out[k] = float(v)
                except (TypeError, ValueError):
                    out[k] = float("nan")
            rows.append(out)
    # A resumed run appends; keep the last row written for each epoch.
    by_epoch = {int(r.get("epoch", i)): r for i, r in enumerate(rows)}
    return [by_epoch[k] for k in sorted(by_epoch)]


def plot_curves(rows, png_path, title="training curves") -> Path | None:
    """Draws loss (left) and mIoU (right) per epoch, training and validation, into a PNG (atomically)."""
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from suite.common.io.atomic import atomic_write

    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    for ax, key, label in ((axes[0], "loss", "loss"), (axes[1], "miou", "mIoU")):
        for prefix, style in (("", "-"), ("val_", "--")):
            k = prefix + key
            if any(k in r for r in rows):
                ax.plot(
                    epochs,
                    [r.get(k, float("nan")) for r in rows],
                    style,
                    marker="o",
                    markersize=3,
                    label=("validation " if prefix else "training ") + label,
                )
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_yscale("log")  # early validation spikes would flatten the rest
    axes[1].set_ylim(0, 1)
    best = max(
        (r for r in rows if math.isfinite(r.get("val_miou", float("nan")))), key=lambda r: r["val_miou"], default=None
    )
    if best is not None:
        axes[1].axvline(int(best["epoch"]) + 1, color="grey", alpha=0.4)
        axes[1].set_title(f"best validation mIoU {best['val_miou']:.3f} (epoch {int(best['epoch']) + 1})")
    axes[0].set_title(title)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write(png_path, lambda fh: fh.write(buf.getvalue()), overwrite=True)
    return Path(png_path)
