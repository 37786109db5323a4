"""SegmentOptions: one dataclass gives segment's checks, its report entry and its command-line options."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from suite.common.options import as_dict, click_options
from suite.unet.segment_options import RUNNERS, SegmentOptions, segment_options


def test_checks_and_defaults():
    opts = segment_options(tile=256, overlay=True)
    assert opts.overlap == 64 and opts.runner == "local" and opts.batch_size == 8
    with pytest.raises(ValueError, match=r"Expected batch_size >= 1\. Received: batch_size=0"):
        segment_options(batch_size=0)
    with pytest.raises(ValueError, match="overlap <= tile / 2"):
        segment_options(tile=64, overlap=40)
    with pytest.raises(ValueError, match="runner"):
        segment_options(runner="spark")
    with pytest.raises(TypeError, match="colour"):
        segment_options(colour="red")
    assert json.loads(json.dumps(as_dict(SegmentOptions(dead_letter=None))))["runner"] == "local"


def test_click_options_single_switches_short_names_and_optional_numbers():
    @click.command()
    @click_options(SegmentOptions)
    def cmd(**kw):
        click.echo(json.dumps(as_dict(segment_options(**kw))))

    default = json.loads(CliRunner().invoke(cmd, []).output)
    assert default == as_dict(SegmentOptions())
    got = json.loads(
        CliRunner().invoke(cmd, ["--overlay", "-r", "--tile", "128", "--workers", "2", "--runner", "beam"]).output
    )
    assert got["overlay"] and got["recursive"] and got["tile"] == 128 and got["workers"] == 2
    assert got["runner"] in RUNNERS
    bad = CliRunner().invoke(cmd, ["--tile", "8"])
    assert bad.exit_code == 2 and "16<=x<=16384" in bad.output
    assert "--beam-options" not in CliRunner().invoke(cmd, ["--help"]).output  # declared by hand in suite segment


def test_report_records_the_options(tmp_path):
    from suite.unet.segment import segment_folder
    from tests.helpers import tiny_segmenter, write_random_image

    write_random_image(tmp_path / "in" / "a.png")
    segment_folder(tmp_path / "in", tmp_path / "out", tiny_segmenter(3), overlay=True, progress=False)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["options"] == as_dict(SegmentOptions(overlay=True))


def test_tta_modes_match_the_predict_path():
    from suite.unet.predict import TTA_MODES
    from suite.unet.segment_options import TTA_MODES as OPTION_MODES

    assert OPTION_MODES == TTA_MODES
    with pytest.raises(ValueError, match="tta"):
        segment_options(tta="rotate")
