"""StyleOptions: one field gives StyleTransfer's keyword, the sidecar key and the `suite stylize` option."""

import dataclasses

import numpy as np
import pytest
from click.testing import CliRunner

from suite.common.options import as_dict
from suite.style.options import StyleOptions, check_style_options


def test_cli_options_and_defaults_come_from_the_fields():
    from suite.cli import main

    params = {p.name: p for p in main.commands["stylize"].params}
    for f in dataclasses.fields(StyleOptions):
        if f.metadata.get("cli") == "":
            assert f.name not in params
            continue
        assert f.name in params, f.name
        default = params[f.name].default
        if f.metadata.get("parse") is not None:
            default = f.metadata["parse"](default)
        plain = lambda v: list(v) if isinstance(v, (list, tuple)) else v  # noqa: E731
        assert plain(default) == plain(getattr(StyleOptions(), f.name)), f.name
    helptext = CliRunner().invoke(main, ["stylize", "--help"]).output
    assert "Coarse-to-fine" in helptext and "--lr" in helptext and "--parametrization" in helptext


def test_canonical_values_and_one_line_errors():
    o = check_style_options(StyleOptions(scales=[0.5, 1], iterations=7, size=64.0))
    assert o.scales == (0.5, 1.0) and o.iterations == (7, 7) and o.size == 64 and isinstance(o.size, int)
    with pytest.raises(ValueError, match=r"Received: scales=\[1.0, 0.5\]"):
        check_style_options(StyleOptions(scales=(1.0, 0.5)))
    with pytest.raises(ValueError, match="Received: optimizer='sgd'"):
        check_style_options(StyleOptions(optimizer="sgd"))
    with pytest.raises(ValueError, match="Received: size=8"):
        check_style_options(StyleOptions(size=8))


def test_style_transfer_takes_options_or_keywords_and_records_them():
    import keras

    from suite.style.transfer import StyleTransfer

    inp = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(2, 3, padding="same", name="block1_conv1")(inp)
    extractor = keras.Model(inp, {"block1_conv1": conv})
    style = np.zeros((16, 16, 3), np.float32)
    common = dict(style_layers=("block1_conv1",), content_layers=("block1_conv1",), size=32, iterations=3)
    by_kw = StyleTransfer(style, extractor=extractor, **common)
    by_opts = StyleTransfer(style, StyleOptions(**common), extractor=extractor)
    assert by_kw.options == by_opts.options and by_kw.iterations == (3, 3)
    side = by_opts.get_options()
    assert {k: v for k, v in side.items() if k not in ("blend", "backbone")} == {
        k: v for k, v in as_dict(by_opts.options).items() if k != "backbone"
    }
    assert side["blend"] == [1.0] and side["iterations"] == [3, 3]
    with pytest.raises(TypeError, match="Unknown option"):
        StyleTransfer(style, extractor=extractor, sizes=3)
