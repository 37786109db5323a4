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


def _commands():
    from suite.cli import main

    ctx = click.Context(main)
    for name in main.list_commands(ctx):
        yield name, main.get_command(ctx, name)


def _float_options():
    found = []
    for name, command in _commands():
        for param in command.params:
            if isinstance(param, click.Option) and isinstance(param.type, click.types.FloatParamType):
                found.append((name, param.opts[0]))
    return found


def test_every_float_option_refuses_nan_and_infinities():
    """``nan`` passes every range check (each comparison is false): each float option must refuse it by name."""
    options = _float_options()
    names = {opt for _, opt in options}
    # the ones the issue names, and at least one of each command that has float options
    assert {"--content-weight", "--lr", "--time-budget", "--feather", "--max-upload-mb", "--atol"} <= names
    runner = CliRunner()
    for command, opt in options:
        for bad in ("nan", "inf", "-inf", "NaN"):
            result = runner.invoke(__import__("suite.cli", fromlist=["main"]).main, [command, opt, bad])
            assert result.exit_code == 2, (command, opt, bad, result.output)
            assert opt in result.output and "not a finite number" in result.output, (command, opt, result.output)


def test_list_options_refuse_nan_and_infinities():
    from suite.cli import main

    runner = CliRunner()
    for command, opt, bad in (
        ("stylize", "--scales", "0.5,nan"),
        ("stylize", "--blend", "1,inf"),
        ("train", "--class-weights", "1,nan"),
    ):
        result = runner.invoke(main, [command, opt, bad])
        assert result.exit_code == 2, (command, opt, result.output)
        assert opt in result.output and "finite" in result.output, result.output


def test_check_refuses_nan_in_the_library():
    with pytest.raises(ValueError, match="lr to be a finite number"):
        check(Demo(lr=float("nan")))
    with pytest.raises(ValueError, match="lr to be a finite number"):
        check(Demo(lr=float("inf")))
