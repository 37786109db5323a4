"""suite segment --runner beam: the local runner's outputs from an Apache Beam pipeline (DirectRunner)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.helpers import tiny_segmenter
from tests.test_segment import _save, _smooth_image


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    tiny_segmenter(path=path)
    return path


def _folder(root: Path) -> Path:
    """Small images that all pad to 64 x 64 (so every batch pads them alike), one tiled image,
    a truncated JPEG, an empty file and a text file."""
    src = root / "in"
    src.mkdir()
    for i in range(6):
        _save(_smooth_image(40 + 3 * i, 64 - 2 * i, seed=i), src / f"im{i}.png")
    _save(_smooth_image(50, 44, seed=7), src / "photo.jpg")
    _save(_smooth_image(150, 130, seed=8), src / "big.png")  # over --tile 64: the tiled path
    good = (src / "photo.jpg").read_bytes()
    (src / "broken.jpg").write_bytes(good[: len(good) // 2])
    (src / "empty.png").write_bytes(b"")
    (src / "notes.txt").write_text("not an image")
    return src


def _outputs(out: Path) -> dict:
    return {
        p.name: p.read_bytes()
        for p in sorted(out.iterdir())
        if p.suffix in (".png", ".jpg", ".npy") and not p.name.startswith(".")
    }


# --------------------------------------------------------------------------- fast


def test_beam_options_become_flags():
    beam_runner = pytest.importorskip("suite.unet.beam_runner", exc_type=ImportError)

    assert beam_runner.parse_beam_options(["runner=DirectRunner", "--direct_num_workers=2", "save_main_session"]) == [
        "--runner=DirectRunner",
        "--direct_num_workers=2",
        "--save_main_session",
    ]
    assert beam_runner.parse_beam_options({"runner": "FlinkRunner", "streaming": True}) == [
        "--runner=FlinkRunner",
        "--streaming",
    ]
    with pytest.raises(ValueError, match="KEY=VALUE"):
        beam_runner.parse_beam_options(["=oops"])


def test_without_beam_the_cli_says_which_extra(tmp_path, model_path, monkeypatch):
    from suite.cli import main

    # As if apache_beam were not installed: importing it raises ImportError.
    monkeypatch.setitem(sys.modules, "apache_beam", None)
    monkeypatch.delitem(sys.modules, "suite.unet.beam_runner", raising=False)
    _save(_smooth_image(20, 20), tmp_path / "p.png")
    result = CliRunner().invoke(
        main,
        ["segment", str(tmp_path / "p.png"), "-m", str(model_path), "-o", str(tmp_path / "out"), "--runner", "beam"],
    )
    assert result.exit_code == 1
    assert 'pip install "keras-cv-suite[beam]"' in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_beam_options_and_urls_need_the_beam_runner(tmp_path, model_path):
    from suite.cli import main

    _save(_smooth_image(20, 20), tmp_path / "p.png")
    result = CliRunner().invoke(
        main,
        [
            "segment",
            str(tmp_path / "p.png"),
            "-m",
            str(model_path),
            "-o",
            str(tmp_path / "out"),
            "--beam-option",
            "direct_num_workers=2",
        ],
    )
    assert result.exit_code == 2 and "--runner beam" in result.output
    result = CliRunner().invoke(
        main, ["segment", "gs://bucket/photos", "-m", str(model_path), "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == 2 and "URLs (gs://..., s3://...) need --runner beam" in result.output
    assert not (tmp_path / "out").exists()


def test_url_without_its_file_system_is_one_line(tmp_path, model_path):
    beam_runner = pytest.importorskip("suite.unet.beam_runner", exc_type=ImportError)

    with pytest.raises(ValueError, match=r"no file system for nosuchfs://.*install Beam's extra"):
        beam_runner.segment_beam(["nosuchfs://bucket/photos"], tmp_path / "out", model_path)
    assert not (tmp_path / "out").exists(), "nothing is created before the inputs are checked"


# --------------------------------------------------------------------------- DirectRunner


@pytest.mark.slow
def test_direct_runner_matches_local_dead_letter_and_resume(tmp_path, model_path):
    pytest.importorskip("apache_beam")
    from suite.unet.beam_runner import segment_beam
    from suite.unet.segment import segment_folder

    src = _folder(tmp_path)
    kw = dict(overlay=True, probabilities=True, tile=64, overlap=16)
    local = segment_folder(src, tmp_path / "local", model_path, progress=False, **kw)
    beam = segment_beam(src, tmp_path / "beam", model_path, **kw)

    # The same files, masks and overlays byte for byte.
    ours, theirs = _outputs(tmp_path / "beam"), _outputs(tmp_path / "local")
    assert sorted(ours) == sorted(theirs) and len(ours) == 3 * 8
    for name in ours:
        if name.endswith(".npy"):
            # float16 probabilities: a batch of another composition may round the last bit otherwise.
            np.testing.assert_allclose(
                np.load(tmp_path / "beam" / name).astype(np.float32),
                np.load(tmp_path / "local" / name).astype(np.float32),
                atol=1e-3,
            )
        else:
            assert ours[name] == theirs[name], name
    with Image.open(tmp_path / "beam" / "big.png") as im:
        assert im.mode == "P" and im.size == (130, 150)

    # Failures: the dead letter has the local runner's reasons, and the pipeline went on.
    dead = [json.loads(line) for line in (tmp_path / "beam" / "failed.jsonl").read_text().splitlines()]
    assert sorted(dead, key=lambda d: d["input"]) == local.failed
    assert {Path(d["input"]).name for d in dead} == {"broken.jpg", "empty.png"}
    assert beam.n_done == 8 and beam.n_skipped == 0 and not beam.ok
    report = json.loads((tmp_path / "beam" / "report.json").read_text())
    assert report["counts"] == {"done": 8, "skipped": 0, "failed": 2, "not_images": 1}
    assert report["runner"] == "DirectRunner"
    assert sorted(p.name for p in (tmp_path / "beam").iterdir() if p.name.startswith(".")) == [], (
        "the work list and Beam's temporary files are gone"
    )

    # A re-run skips what is finished and retries only the failures.
    (tmp_path / "beam" / "im3.png").unlink()
    again = segment_beam(src, tmp_path / "beam", model_path, **kw)
    assert again.n_done == 1 and again.n_skipped == 7 and len(again.failed) == 2
    assert (tmp_path / "beam" / "im3.png").read_bytes() == theirs["im3.png"]


@pytest.mark.slow
def test_cli_multi_process_direct_runner(tmp_path, model_path):
    pytest.importorskip("apache_beam")
    from suite.cli import main
    from suite.unet.segment import segment_folder

    src = _folder(tmp_path)
    segment_folder(src, tmp_path / "local", model_path, progress=False)
    result = CliRunner().invoke(
        main,
        [
            "segment",
            str(src),
            "-m",
            str(model_path),
            "-o",
            str(tmp_path / "beam"),
            "--runner",
            "beam",
            "--beam-option",
            "direct_running_mode=multi_processing",
            "--beam-option",
            "direct_num_workers=2",
            "--dead-letter",
            str(tmp_path / "dead.jsonl"),
        ],
    )
    assert result.exit_code == 1, result.output  # two images failed
    assert "Traceback" not in result.output
    assert "done 8, skipped 0 (already there), failed 2" in result.output
    assert _outputs(tmp_path / "beam") == _outputs(tmp_path / "local")
    dead = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert {Path(d["input"]).name for d in dead} == {"broken.jpg", "empty.png"}


# --------------------------------------------------------------------------- a file system with a scheme

#: Where ``suitefake://...`` lives on disk, set by the test that uses it.
_FAKE_ROOT: dict = {}


def _fake_file_system():
    """A Beam file system for ``suitefake://`` URLs, kept in a local folder.

    It stands in for ``gs://`` or ``s3://`` (no network here): the runner
    sees URLs, lists them with ``FileSystems.match``, reads and writes them
    through Beam only. Beam finds file systems by subclass, so defining the
    class registers it (in this process, hence the in-process DirectRunner).
    """
    import os
    import shutil

    from apache_beam.io.filesystem import BeamIOError, CompressedFile, CompressionTypes, FileMetadata, FileSystem

    if "cls" in _FAKE_ROOT:
        return _FAKE_ROOT["cls"]

    class SuiteFakeFileSystem(FileSystem):
        PREFIX = "suitefake://"

        @classmethod
        def scheme(cls):
            return "suitefake"

        def _local(self, url):
            return os.path.join(_FAKE_ROOT["root"], url[len(self.PREFIX) :])

        def _url(self, path):
            return self.PREFIX + os.path.relpath(path, _FAKE_ROOT["root"]).replace(os.sep, "/")

        def join(self, base, *paths):
            return "/".join([base.rstrip("/"), *(p.strip("/") for p in paths)])

        def split(self, url):
            head, _, tail = url.rstrip("/").rpartition("/")
            return head, tail

        def _url_dirname(self, url):
            return self.split(url)[0]

        def has_dirs(self):
            return False  # like an object store: match lists by prefix

        def mkdirs(self, url):
            os.makedirs(self._local(url), exist_ok=True)

        def _list(self, prefix):
            root = self._local(prefix)
            top = root if os.path.isdir(root) else os.path.dirname(root)
            for dirpath, _, files in os.walk(top):
                for name in files:
                    path = os.path.join(dirpath, name)
                    if path.startswith(root):
                        yield FileMetadata(self._url(path), os.path.getsize(path), os.path.getmtime(path))

        def _open(self, url, mode, compression_type):
            compression_type = FileSystem._get_compression_type(url, compression_type)
            raw = open(self._local(url), mode)
            return raw if compression_type == CompressionTypes.UNCOMPRESSED else CompressedFile(raw, compression_type)

        def create(self, url, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
            os.makedirs(os.path.dirname(self._local(url)), exist_ok=True)
            return self._open(url, "wb", compression_type)

        def open(self, url, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
            return self._open(url, "rb", compression_type)

        def copy(self, sources, destinations):
            for a, b in zip(sources, destinations):
                os.makedirs(os.path.dirname(self._local(b)), exist_ok=True)
                shutil.copy2(self._local(a), self._local(b))

        def rename(self, sources, destinations):
            for a, b in zip(sources, destinations):
                os.makedirs(os.path.dirname(self._local(b)), exist_ok=True)
                os.replace(self._local(a), self._local(b))

        def exists(self, url):
            return os.path.isfile(self._local(url))

        def size(self, url):
            return os.path.getsize(self._local(url))

        def last_updated(self, url):
            return os.path.getmtime(self._local(url))

        def checksum(self, url):
            return str(self.size(url))

        def metadata(self, url):
            if not self.exists(url):
                raise BeamIOError(f"Path does not exist: {url}")
            return FileMetadata(url, self.size(url), self.last_updated(url))

        def delete(self, urls):
            for m in self.match(urls):
                for f in m.metadata_list:
                    os.remove(self._local(f.path))
                if not m.metadata_list and os.path.isdir(self._local(m.pattern)):
                    shutil.rmtree(self._local(m.pattern))

    _FAKE_ROOT["cls"] = SuiteFakeFileSystem
    return SuiteFakeFileSystem


@pytest.mark.slow
def test_urls_on_a_beam_file_system(tmp_path, model_path):
    pytest.importorskip("apache_beam")
    import shutil

    from suite.unet.beam_runner import segment_beam
    from suite.unet.segment import segment_folder

    bucket = tmp_path / "bucket"
    bucket.mkdir()
    _FAKE_ROOT["root"] = str(bucket)
    _fake_file_system()
    src = _folder(bucket)
    (bucket / "models").mkdir()
    shutil.copy(model_path, bucket / "models" / "tiny.keras")
    kw = dict(overlay=True, tile=64, overlap=16)
    local = segment_folder(src, tmp_path / "local", model_path, progress=False, **kw)
    remote = segment_beam("suitefake://in", "suitefake://out", "suitefake://models/tiny.keras", **kw)

    # Downloaded, segmented with the same code, uploaded: the same bytes.
    assert _outputs(bucket / "out") == _outputs(tmp_path / "local")
    assert remote.n_done == 8 and remote.not_images == ["suitefake://in/notes.txt"]
    dead = [json.loads(line) for line in (bucket / "out" / "failed.jsonl").read_text().splitlines()]
    assert sorted(d["input"] for d in dead) == ["suitefake://in/broken.jpg", "suitefake://in/empty.png"]
    assert {d["reason"] for d in dead} == {f["reason"] for f in local.failed}
    assert json.loads((bucket / "out" / "report.json").read_text())["counts"]["done"] == 8

    # Resume: one listing of the output finds what is finished.
    (bucket / "out" / "im2.png").unlink()
    again = segment_beam("suitefake://in", "suitefake://out", "suitefake://models/tiny.keras", **kw)
    assert again.n_done == 1 and again.n_skipped == 7
    assert (bucket / "out" / "im2.png").read_bytes() == (tmp_path / "local" / "im2.png").read_bytes()

    # The CLI takes the URLs as they are.
    from suite.cli import main

    result = CliRunner().invoke(
        main,
        [
            "segment",
            "suitefake://in",
            "-m",
            "suitefake://models/tiny.keras",
            "-o",
            "suitefake://cli",
            "--runner",
            "beam",
            "--overlay",
            "--tile",
            "64",
            "--overlap",
            "16",
        ],
    )
    assert result.exit_code == 1 and "done 8, skipped 0 (already there), failed 2" in result.output, result.output
    assert "report: suitefake://cli/report.json" in result.output
    assert _outputs(bucket / "cli") == _outputs(tmp_path / "local")


@pytest.mark.slow
def test_direct_runner_with_the_person_preset(tmp_path):
    """A preset name reaches every worker's loader: the same masks as the local runner."""
    pytest.importorskip("apache_beam")
    from suite.cli import main

    photos = Path(__file__).resolve().parents[1] / "assets" / "photos"
    local, beam = tmp_path / "local", tmp_path / "beam"
    r1 = CliRunner().invoke(
        main, ["segment", str(photos / "astronaut.jpg"), str(photos / "rocket.jpg"), "-m", "person", "-o", str(local)]
    )
    r2 = CliRunner().invoke(
        main,
        [
            "segment",
            str(photos / "astronaut.jpg"),
            str(photos / "rocket.jpg"),
            "-m",
            "person",
            "-o",
            str(beam),
            "--runner",
            "beam",
        ],
    )
    assert r1.exit_code == 0 and r2.exit_code == 0, (r1.output, r2.output)
    for name in ("astronaut.png", "rocket.png"):
        assert (local / name).read_bytes() == (beam / name).read_bytes(), name


def test_tta_is_refused_by_the_beam_runner(tmp_path):
    beam_runner = pytest.importorskip("suite.unet.beam_runner", exc_type=ImportError)
    with pytest.raises(ValueError, match="--tta flip runs with --runner local only"):
        beam_runner.segment_beam(tmp_path, tmp_path / "out", tmp_path / "m.keras", tta="flip")
    assert not (tmp_path / "out").exists()
