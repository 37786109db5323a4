"""The README is executable: every `suite ...` line of its code blocks runs, as written.

Lines run in order in one scratch folder that sees the repository's `assets/` (so the
README's `model.keras` from `suite train` is the model the next lines use). A line runs
when every input path it names exists at that point; lines naming placeholders are
skipped, and the test fails if a command the README documents was never run, so the
README cannot drift into examples that do not work. A line the README repeats word for word
runs once: a second run, in the same folder with the same arguments, would check nothing the
first did not.

Runs are shortened only in length, never by switching a feature off: training gets
`--epochs 1 --steps-per-epoch 2`, style transfer `--iterations 1` (every other option
stays at the value the README gives, or its default). Each line runs through the real
`suite` console script, as a user types it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: Appended to a command so it finishes in seconds; Click keeps the last value of an option.
SHORTER = {
    "train": ["--epochs", "1", "--steps-per-epoch", "2"],
    "stylize": ["--iterations", "1"],
}
#: Options whose value is written, not read.
OUTPUT_OPTIONS = {"-o", "--output", "--logdir"}
#: Options that take no value.
FLAGS = {
    "--overlay",
    "--probabilities",
    "--overwrite",
    "--compare",
    "--preserve-colors",
    "--json",
    "-q",
    "--quiet",
    "-v",
    "--verbose",
    "--no-progress",
    "--recursive",
    "-r",
    "--binary",
    "--strict",
    "--resume",
    "--version",
    "--mixed-precision",
    "--no-mixed-precision",
    "--no-tensorboard",
    "--augment",
    "--no-augment",
}
#: Every command the README must show running.
DOCUMENTED = {"backbones", "features", "stylize", "train", "evaluate", "segment", "export"}


def readme_commands(text: str) -> list[str]:
    """The `suite ...` lines inside fenced code blocks, comments stripped."""
    lines, in_block = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            in_block = not in_block
            continue
        if in_block and line.startswith("suite "):
            lines.append(line.split("  #")[0].split(" # ")[0].strip())
    return lines


def input_paths(args: list[str]) -> list[str]:
    """The arguments of a command line that name files or folders it reads."""
    paths, skip_next = [], False
    for i, a in enumerate(args):
        if skip_next:
            skip_next = False
            continue
        if a.startswith("-"):
            if a in OUTPUT_OPTIONS:
                skip_next = True
            elif a not in FLAGS:
                value = args[i + 1] if i + 1 < len(args) else ""
                # CLASS=FILE,CLASS=FILE values (--class-style) name one file per item
                for item in value.split(",") if "=" in value else [value]:
                    item = item.split("=", 1)[-1]
                    if "/" in item or re.search(r"\.(keras|jpg|png|h5|mp4|mov|webm|gif)$", item):
                        paths.append(item)
                skip_next = True
            continue
        if "/" in a or re.search(r"\.(keras|jpg|jpeg|png|h5|mp4|mov|webm|gif)$", a):
            paths.append(a)
    return paths


def test_readme_commands_are_parsed():
    cmds = readme_commands(README.read_text())
    assert {c.split()[1] for c in cmds} >= DOCUMENTED
    assert input_paths(["stylize", "a/b.jpg", "--style", "c.jpg", "-o", "out.png", "--compare"]) == ["a/b.jpg", "c.jpg"]
    assert input_paths(["train", "--images", "x/y", "--num-classes", "5"]) == ["x/y"]
    assert input_paths(["stylize", "p.jpg", "--class-style", "a=x/b.jpg,c=d.png", "-o", "o.png"]) == [
        "p.jpg",
        "x/b.jpg",
        "d.png",
    ]


@pytest.mark.slow
def test_every_readme_command_runs(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "assets").symlink_to(ROOT / "assets")
    from tests.test_video import make_clip

    make_clip(work / "clip.mp4", n=6, w=96, h=64)  # the README's `clip.mp4`: a short clip with sound
    suite = shutil.which("suite", path=str(Path(sys.executable).parent)) or shutil.which("suite")
    assert suite, "the `suite` console script is not installed (pip install -e .)"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("SUITE_QUIET", None)  # as a user runs it
    ran, skipped, seen = [], [], set()
    for line in readme_commands(README.read_text()):
        args = shlex.split(line)[1:]
        if tuple(args) in seen:
            continue
        missing = [p for p in input_paths(args) if not (work / p).exists()]
        if missing:
            skipped.append((line, missing))
            continue
        extra = SHORTER.get(args[0] if args else "", [])
        proc = subprocess.run([suite, *args, *extra], cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"`{line}` exited {proc.returncode}:\n{proc.stderr[-3000:]}"
        assert "Traceback" not in proc.stderr, f"`{line}` printed a traceback:\n{proc.stderr[-3000:]}"
        ran.append(args[0] if args else "--version")
        seen.add(tuple(args))
    assert set(ran) >= DOCUMENTED, f"README commands never run: {DOCUMENTED - set(ran)}; skipped: {skipped}"
    # What the defaults path produced, where the README says it.
    assert (work / "model.keras").is_file() and (work / "model_logs" / "tensorboard").is_dir()
    assert (work / "chelsea_mosaic.png").is_file() and (work / "chelsea_mosaic.png.json").is_file()
    assert (work / "masks" / "report.json").is_file()
    assert (work / "clip_mosaic.mp4").is_file()
    assert (work / "model.tflite").is_file()
    assert (work / "person_masks" / "astronaut_overlay.jpg").is_file() and (work / "astronaut_regions.png").is_file()
