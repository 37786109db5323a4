"""Two `suite train --strategy multiworker` processes on 127.0.0.1 train one model together."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.test_train import _dataset

ROOT = Path(__file__).resolve().parents[1]


def _free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_train_together_and_chief_saves(tmp_path):
    import keras

    images, masks = _dataset(tmp_path / "data", n=8)
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    out, logdir = tmp_path / "mw.keras", tmp_path / "logs"
    procs = []
    for index in range(2):
        env = dict(
            os.environ,
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            CUDA_VISIBLE_DEVICES="-1",
            PYTHONPATH=str(ROOT),
        )
        env.pop("SUITE_QUIET", None)
        env["SUITE_DEBUG"] = os.environ.get("SUITE_DEBUG", "")
        cmd = [
            sys.executable,
            "-m",
            "suite",
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
            "--val-split",
            "0.25",
            "--no-augment",
            "--no-tensorboard",
            "--strategy",
            "multiworker",
            "--output",
            str(out),
            "--logdir",
            str(logdir),
        ]
        procs.append(
            subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        )
    outputs = []
    for p in procs:
        try:
            outputs.append(p.communicate(timeout=240)[0])
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail("multi-worker training did not finish in 240 s")
    for index, (p, text) in enumerate(zip(procs, outputs)):
        assert p.returncode == 0, text[-3000:]
        # Both workers joined one cluster: each sees 2 replicas in sync.
        assert f"worker {index}" in text and "2 replicas in sync" in text, text[-3000:]
    assert "(chief)" in outputs[0] and "(chief)" not in outputs[1]
    # Synchronous training: both workers end with the same weights, so the same validation mIoU.
    best = [re.search(r"best val mIoU ([0-9.]+)", text).group(1) for text in outputs]
    assert best[0] == best[1]
    import suite.unet.model  # noqa: F401 - registers the suite's classes, as a script loading the model would

    model = keras.saving.load_model(out)
    assert tuple(model(np.zeros((1, 32, 32, 3), np.float32)).shape) == (1, 32, 32, 3)
    # Only the chief wrote the model and the curves; the other worker kept its logs apart.
    assert (logdir / "curves.png").exists() and (logdir / "log.csv").exists()
    assert not any(p.suffix == ".keras" for p in tmp_path.iterdir() if p != out)
    assert (logdir / "workers" / "worker1" / "log.csv").exists()
