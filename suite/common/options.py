"""Option sets as plain dataclasses: each option's default, type, choices and help in one place.

A task's options (training, style, segmentation) are one dataclass whose
fields are declared with :func:`option`. The library validates an instance
once (:func:`check`), writes it as the run's JSON sidecar (:func:`as_dict`),
and the CLI builds its Click options from the same fields
(:func:`click_options`), so adding an option is one edit.

Keras-free and TensorFlow-free on purpose: importing an option set must stay
cheap (``suite --help`` reads them all).

Example:
    >>> @dataclasses.dataclass
    ... class Demo:
    ...     lr: float = option(2e-3, "Peak learning rate.", low=0, low_open=True)
    ...     loss: str = option("ce", "Loss.", choices=("ce", "dice"))
    >>> check(Demo(loss="dice")).loss
    'dice'
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from typing import Any

_NO_DEFAULT = dataclasses.MISSING


def option(
    default: Any = _NO_DEFAULT,
    help: str = "",
    *,
    choices: Iterable | Callable[[], Iterable] | None = None,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    cli: str | None = None,
    metavar: str | None = None,
    parse: Callable[[str], Any] | None = None,
    flag: str | None = None,
    show_default: bool | str = True,
    hidden: bool = False,
    kind: type | None = None,
):
    """A dataclass field carrying what the CLI and the checks need.

    Args:
        default: The library's default (lists and dicts are copied per instance).
        help: One sentence for ``--help``; the default is appended by Click.
        choices: The allowed values, or a function returning them (read
            lazily, so a registry filled later is seen: backbones, presets).
        low, high, low_open, high_open: Numeric range, checked by :func:`check`
            and turned into ``click.IntRange``/``FloatRange``.
        cli: Option name on the command line (default ``--field-name``),
            or several separated by spaces (``"--recursive -r"``); ``""``
            keeps the field off the command line.
        metavar: Shown in ``--help`` instead of the type.
        parse: Turns the command-line string into the value (for lists,
            ``auto``-or-number values...); it raises ``ValueError`` with a
            short reason on bad input.
        flag: For booleans, the switch pair, e.g. ``"--augment/--no-augment"``
            (default: ``--name/--no-name``), or a single switch that turns the
            option on, e.g. ``"--overlay"`` (names separated by spaces).
        show_default: As Click's (a string replaces the shown default).
        hidden: Kept out of ``--help``.
        kind: The value's type (``int``, ``float``) when the default does not
            tell, e.g. an optional number whose default is ``None``.
    """
    meta = dict(
        help=help,
        choices=choices,
        low=low,
        high=high,
        low_open=low_open,
        high_open=high_open,
        cli=cli,
        metavar=metavar,
        parse=parse,
        flag=flag,
        show_default=show_default,
        hidden=hidden,
        kind=kind,
    )
    if isinstance(default, (list, dict, set)):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def choices_of(f: dataclasses.Field) -> tuple | None:
    """The field's allowed values (calling the registry function if there is one)."""
    c = f.metadata.get("choices")
    if c is None:
        return None
    return tuple(c() if callable(c) else c)


def fields_of(cls_or_obj) -> list[dataclasses.Field]:
    return list(dataclasses.fields(cls_or_obj))


def defaults(cls) -> dict:
    """``{name: default}`` of an option set (what a fresh instance holds)."""
    return as_dict(cls())


def check(obj):
    """Validates choices and ranges of every field; returns ``obj``.

    Raises:
        ValueError: one line naming the option, what was expected and what was received.
    """
    for f in fields_of(obj):
        value = getattr(obj, f.name)
        allowed = choices_of(f)
        if allowed is not None and value is not None and _norm(value) not in {_norm(c) for c in allowed}:
            raise ValueError(f"Expected {f.name} in {list(allowed)}. Received: {f.name}={value!r}")
        low, high = f.metadata.get("low"), f.metadata.get("high")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"Expected {f.name} to be a finite number. Received: {f.name}={value!r}")
        if isinstance(value, (list, tuple)) and any(isinstance(v, float) and not math.isfinite(v) for v in value):
            raise ValueError(f"Expected {f.name} to hold finite numbers. Received: {f.name}={list(value)!r}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if low is not None and (value < low or (f.metadata.get("low_open") and value == low)):
                op = ">" if f.metadata.get("low_open") else ">="
                raise ValueError(f"Expected {f.name} {op} {low}. Received: {f.name}={value!r}")
            if high is not None and (value > high or (f.metadata.get("high_open") and value == high)):
                op = "<" if f.metadata.get("high_open") else "<="
                raise ValueError(f"Expected {f.name} {op} {high}. Received: {f.name}={value!r}")
    return obj


def _norm(v):
    return v.lower() if isinstance(v, str) else v


def as_dict(obj) -> dict:
    """The option set as JSON-ready data (tuples become lists, paths strings)."""

    def plain(v):
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        return str(v)

    return {f.name: plain(getattr(obj, f.name)) for f in fields_of(obj)}


def replace(obj, **changes):
    """A checked copy with ``changes`` (unknown names raise ``TypeError`` naming them)."""
    names = {f.name for f in fields_of(obj)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise TypeError(f"Unknown option(s) {unknown}; known: {sorted(names)}")
    return check(dataclasses.replace(obj, **changes))


# --------------------------------------------------------------------------- Click


def click_options(cls, *, exclude: Iterable[str] = (), only: Iterable[str] | None = None, defaults_from: Any = None):
    """A decorator adding one Click option per field of ``cls``, in field order.

    The Click default, type, choices, range and help all come from the field,
    so the command line cannot drift from the library. ``exclude``/``only``
    pick fields; ``defaults_from`` (an instance) overrides shown defaults.
    """
    import click

    skip = set(exclude)
    keep = set(only) if only is not None else None
    base = defaults_from if defaults_from is not None else cls()
    chosen = [
        f
        for f in dataclasses.fields(cls)
        if f.name not in skip and (keep is None or f.name in keep) and f.metadata.get("cli", None) != ""
    ]

    def decorate(fn):
        for f in reversed(chosen):
            fn = _click_option(click, f, getattr(base, f.name))(fn)
        return fn

    return decorate


def _click_option(click, f: dataclasses.Field, default):
    meta = f.metadata
    names = (meta.get("cli") or "--" + f.name.replace("_", "-")).split()
    kwargs: dict[str, Any] = dict(help=meta.get("help", ""), hidden=meta.get("hidden", False))
    kind = _kind(f, default)
    if kind is bool and meta.get("parse") is None:
        decl = meta.get("flag") or f"{names[0]}/--no-{names[0][2:]}"
        if "/" not in decl:  # one switch that turns the option on (--overlay, --strict), as Click's is_flag
            return click.option(*decl.split(), f.name, is_flag=True, default=bool(default), **kwargs)
        return click.option(decl, f.name, default=default, show_default=True, **kwargs)
    allowed = choices_of(f)
    parse = meta.get("parse")
    if parse is not None:
        kwargs["callback"] = _parse_callback(click, parse)
        kwargs["type"] = str
        shown = default
        if isinstance(default, (list, tuple)):
            shown = ",".join(str(v) for v in default)
        kwargs["default"] = None if default is None else str(shown)
    elif allowed is not None:
        kwargs["type"] = click.Choice([str(c) for c in allowed], case_sensitive=False)
        kwargs["default"] = default
    else:
        kwargs["type"] = _range_type(click, meta, kind)
        kwargs["default"] = default
    if meta.get("metavar"):
        kwargs["metavar"] = meta["metavar"]
    show = meta.get("show_default", True)
    kwargs["show_default"] = show if default is not None or isinstance(show, str) else False
    return click.option(*names, f.name, **kwargs)


def _kind(f: dataclasses.Field, default):
    """``bool``, ``int``, ``float`` or ``None``: the field's ``kind``, else the default's type, else the annotation's."""
    if f.metadata.get("kind") is not None:
        return f.metadata["kind"]
    if isinstance(default, (bool, int, float)):
        return type(default)
    annotation = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    first = annotation.replace(" ", "").split("|")[0].replace("Optional[", "")
    return {"bool": bool, "int": int, "float": float}.get(first)


def _range_type(click, meta, kind):
    low, high = meta.get("low"), meta.get("high")
    if kind not in (int, float):
        return None
    if kind is float:
        return finite_float(low, high, min_open=meta.get("low_open", False), max_open=meta.get("high_open", False))
    if low is None and high is None:
        return kind
    return click.IntRange(low, high, min_open=meta.get("low_open", False), max_open=meta.get("high_open", False))


def finite_float(
    low: float | None = None, high: float | None = None, *, min_open: bool = False, max_open: bool = False
):
    """A Click type for a finite number in a range: Click's own ``float`` accepts ``nan`` and ``inf``.

    ``nan`` passes every range check (each comparison is false), so without
    this ``--lr nan`` would reach the optimizer. Every float option of the
    suite's commands uses it.

    Example:
        >>> finite_float(0, min_open=True).convert("0.5", None, None)
        0.5
    """
    import click

    class FiniteFloat(click.FloatRange):
        def convert(self, value, param, ctx):
            number = click.FLOAT.convert(value, param, ctx)
            if not math.isfinite(number):
                self.fail(f"{value!r} is not a finite number.", param, ctx)
            return super().convert(number, param, ctx)

        def _describe_range(self) -> str:  # "x>=0" as Click writes it; no range, nothing in --help
            return super()._describe_range() if (self.min, self.max) != (None, None) else ""

    kind = FiniteFloat(low, high, min_open=min_open, max_open=max_open)
    if low is None and high is None:
        kind.name = "float"  # --help shows FLOAT, as for a plain float option
    return kind


def _parse_callback(click, parse):
    def callback(ctx, param, value):
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as e:
            raise click.BadParameter(str(e)) from None

    return callback


# --------------------------------------------------------------------------- parsers for list-like options


def parse_ints(text: str) -> tuple[int, ...]:
    """``"128,64,32"`` -> ``(128, 64, 32)``."""
    try:
        return tuple(int(v) for v in str(text).split(","))
    except ValueError:
        raise ValueError("expected comma-separated integers, e.g. 128,64,32") from None


def parse_floats(text: str) -> tuple[float, ...]:
    """``"0.5,1"`` -> ``(0.5, 1.0)``."""
    try:
        values = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        raise ValueError("expected comma-separated numbers, e.g. 0.5,1") from None
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"expected finite numbers, got {text!r}")
    return values


def parse_auto_int(text: str):
    """``"auto"`` or a whole number >= 0."""
    if str(text).lower() == "auto":
        return "auto"
    try:
        v = int(text)
    except ValueError:
        raise ValueError("expected auto or a whole number") from None
    if v < 0:
        raise ValueError("expected auto or a number >= 0")
    return v
