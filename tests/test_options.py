"""The option-set helper: one dataclass gives the checks, the JSON and the Click options."""

import dataclasses

import click
import pytest
from click.testing import CliRunner

from suite.common.options import as_dict, check, click_options, option, parse_ints, replace


@dataclasses.dataclass
class Demo:
    lr: float = option(2e-3, "Peak learning rate.", low=0, low_open=True)
    loss: str = option("ce", "Loss.", choices=lambda: ("ce", "dice"))
    sizes: tuple = option((64, 32), "Widths.", parse=parse_ints)
    augment: bool = option(True, "Augment.")
    epochs: int = option(5, "Epochs.", low=1)


def test_check_names_the_option():
    assert check(Demo(loss="dice")).loss == "dice"
    with pytest.raises(ValueError, match=r"loss in \['ce', 'dice'\].*loss='x'"):
        check(Demo(loss="x"))
    with pytest.raises(ValueError, match="lr > 0"):
        check(Demo(lr=0.0))
    with pytest.raises(TypeError, match="Unknown option"):
        replace(Demo(), nope=1)


def test_json_is_plain():
    assert as_dict(Demo()) == {"lr": 2e-3, "loss": "ce", "sizes": [64, 32], "augment": True, "epochs": 5}


def test_click_options_follow_the_fields():
    @click.command()
    @click_options(Demo)
    def cmd(**kw):
        click.echo(repr(Demo(**kw)))

    runner = CliRunner()
    out = runner.invoke(cmd, [])
    assert out.exit_code == 0 and repr(Demo()) in out.output
    out = runner.invoke(cmd, ["--loss", "DICE", "--sizes", "8,4", "--no-augment", "--epochs", "2"])
    assert "sizes=(8, 4)" in out.output and "augment=False" in out.output
    assert runner.invoke(cmd, ["--epochs", "0"]).exit_code == 2
    bad = runner.invoke(cmd, ["--sizes", "a,b"])
    assert bad.exit_code == 2 and "comma-separated integers" in bad.output
    helptext = runner.invoke(cmd, ["--help"]).output
    assert "Peak learning rate." in helptext and "[default: 64,32]" in helptext


@dataclasses.dataclass
class Maybe:
    budget: float | None = option(None, "Seconds.", low=0, low_open=True)
    steps: int | None = option(None, "Steps.", low=1)
    batch_norm: bool | None = option(None, "BatchNorm.")
    strict: bool = option(False, "Stop at the first bad file.", flag="--strict")


def test_none_defaults_take_their_type_from_the_annotation():
    @click.command()
    @click_options(Maybe)
    def cmd(**kw):
        click.echo(repr(Maybe(**kw)))

    runner = CliRunner()
    assert repr(Maybe()) in runner.invoke(cmd, []).output
    out = runner.invoke(cmd, ["--budget", "2.5", "--steps", "3", "--no-batch-norm", "--strict"]).output
    assert "budget=2.5" in out and "steps=3" in out and "batch_norm=False" in out and "strict=True" in out
    assert runner.invoke(cmd, ["--budget", "0"]).exit_code == 2
    assert runner.invoke(cmd, ["--steps", "x"]).exit_code == 2
