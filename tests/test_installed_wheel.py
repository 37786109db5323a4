"""The wheel carries what the installed suite needs: built, installed apart from the checkout, run outside it.

The wheel is built from a copy of the sources (``pip wheel --no-deps --no-build-isolation``,
offline), installed with ``pip install --no-deps --target SITE`` over this environment's
dependencies, and every command runs with ``PYTHONPATH=SITE`` from a folder outside the
repository, so nothing can come from the checkout: each process checks that ``suite`` was
imported from SITE. The commands are the README's, on the installed package's own photos and
artworks: ``segment`` with the ``person`` preset, ``stylize`` with both methods, one short
``train``, ``export`` and ``serve``'s pages and static files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

#: Run inside the installed suite: where it was imported from, then `suite serve`'s pages and files.
SERVE_CHECK = r"""
import json, re, sys
from pathlib import Path
import suite
site = Path(sys.argv[1]).resolve()
assert Path(suite.__file__).resolve().is_relative_to(site), suite.__file__
from suite.serve.app import create_app
from suite.serve.served import BUNDLED_ASSETS
assert BUNDLED_ASSETS.resolve().is_relative_to(site), BUNDLED_ASSETS
client = create_app([], upload_dir=sys.argv[2]).test_client()
found = {}
for page in ("/", "/segment"):
    r = client.get(page)
    assert r.status_code == 200, (page, r.status_code)
    html = r.get_data(as_text=True)
    for ref in sorted(set(re.findall(r'(?:src|href)="(/static/[^"?#]+)', html))):
        s = client.get(ref)
        assert s.status_code == 200 and s.data, (ref, s.status_code)
        found[ref] = len(s.data)
cat = client.get("/api/catalog").get_json()
thumb = client.get("/api/thumb/f0/photos/chelsea.jpg")
assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg", thumb.status_code
print(json.dumps({"static": found, "photos": [e["id"] for e in cat["photos"]],
                  "artworks": [e["id"] for e in cat["artworks"]], "models": cat["models"]}))
"""


def _copy_sources(dst: Path) -> None:
    dst.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dst / name)
    shutil.copytree(ROOT / "suite", dst / "suite", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _pip(*args, cwd):
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"pip {' '.join(args)}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``(site, env)``: the wheel installed into ``site``, and the environment that imports it from there."""
    tmp = tmp_path_factory.mktemp("wheel")
    _copy_sources(tmp / "src")
    _pip(
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-q",
        "-w",
        str(tmp / "dist"),
        str(tmp / "src"),
        cwd=tmp,
    )
    (wheel,) = (tmp / "dist").glob("keras_cv_suite-*.whl")
    site = tmp / "site"
    _pip("install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel), cwd=tmp)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SUITE_QUIET", "PYTHONSTARTUP")}
    env.update(PYTHONPATH=str(site), TF_CPP_MIN_LOG_LEVEL="2", PYTHONNOUSERSITE="1")
    return site, env


def _suite(args, cwd, env, site):
    """Runs the installed console script (``python -m suite`` if pip put none) and returns the process."""
    script = site / "bin" / "suite"
    cmd = [sys.executable, str(script)] if script.is_file() else [sys.executable, "-m", "suite"]
    proc = subprocess.run([*cmd, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"suite {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc


def _segdata(folder: Path, n: int = 4, size: int = 48) -> tuple[Path, Path]:
    """``n`` tiny image/mask pairs: a bright square (class 1) on a noisy background."""
    images, masks = folder / "images", folder / "masks"
    images.mkdir(parents=True)
    masks.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        img = rng.integers(0, 90, (size, size, 3), dtype=np.uint8)
        mask = np.zeros((size, size), np.uint8)
        y, x = rng.integers(4, size // 2, 2)
        img[y : y + 16, x : x + 16] = 220
        mask[y : y + 16, x : x + 16] = 1
        Image.fromarray(img).save(images / f"{i}.png")
        Image.fromarray(mask).save(masks / f"{i}.png")
    return images, masks


@pytest.mark.slow
def test_the_wheel_carries_the_preset_the_pictures_and_the_pages(installed, tmp_path):
    site, env = installed
    data = site / "suite" / "assets"
    assert {p.name for p in data.glob("*.npz")} == {"selfie_general.npz", "selfie_landscape.npz"}
    assert (data / "demo_unet.keras").is_file() and len(list((data / "photos").glob("*.jpg"))) == 4
    assert not (site / "assets").exists() and not (site / "tests").exists()

    work = tmp_path / "work"  # a folder outside the repository, where a user would run the README's commands
    work.mkdir()
    photo = shutil.copy(data / "photos" / "astronaut.jpg", work / "photo.jpg")
    art = shutil.copy(data / "styles" / "mosaic.jpg", work / "art.jpg")
    imported = subprocess.run(
        [sys.executable, "-c", "import suite; print(suite.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert Path(imported.stdout.strip()).resolve().is_relative_to(site.resolve()), imported.stdout + imported.stderr

    # segment with the pretrained preset: the astronaut is found
    _suite(["segment", photo, "--model", "person", "-o", "person", "--overlay"], work, env, site)
    mask = np.asarray(Image.open(work / "person" / "photo.png"))
    assert mask.shape == (512, 512) and 0.1 < (mask == 1).mean() < 0.9
    assert (work / "person" / "photo_overlay.jpg").is_file()

    # stylize, both methods (tiny sizes: this checks that they run from the wheel, not their quality)
    _suite(
        ["stylize", photo, "--style", art, "--size", 48, "--scales", "1", "--iterations", 2, "-o", "gatys.png"],
        work,
        env,
        site,
    )
    _suite(["stylize", photo, "--style", art, "--method", "fast", "--size", 64, "-o", "fast.png"], work, env, site)
    assert Image.open(work / "gatys.png").size == (48, 48) and Image.open(work / "fast.png").size == (64, 64)

    # train one short step, export it and check the export against Keras
    images, masks = _segdata(work / "data")
    _suite(
        [
            "train",
            "--images",
            images,
            "--masks",
            masks,
            "--num-classes",
            2,
            "--backbone",
            "none",
            "--encoder-filters",
            "4,8,16,32,64",
            "--decoder-filters",
            "32,16,8,4",
            "--image-size",
            32,
            "--batch-size",
            2,
            "--epochs",
            1,
            "--steps-per-epoch",
            1,
            "--no-tensorboard",
            "-o",
            "model.keras",
        ],
        work,
        env,
        site,
    )
    out = _suite(
        ["export", "-m", "model.keras", "--format", "saved_model", "-o", "exported", "--size", 32, "--json"],
        work,
        env,
        site,
    )
    assert json.loads(out.stdout)["max_abs_diff"] <= 1e-4 and (work / "exported" / "saved_model.pb").is_file()

    # serve's pages, their static files and the bundled pictures, from the installed package
    proc = subprocess.run(
        [sys.executable, "-c", SERVE_CHECK, str(site), str(tmp_path / "uploads")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"/static/app.css", "/static/common.js"} <= set(served["static"])
    assert "f0/photos/chelsea.jpg" in served["photos"] and "f0/styles/mosaic.jpg" in served["artworks"]
    assert {"preset/person", "f0/demo_unet.keras"} <= {m["id"] for m in served["models"]}
