"""Per-job options -> a pipeline's config dataclass (``MakeConfig``, ``EditConfig``, ...).

Option names are the config's field names (the same names as the command's TOML keys and
flags, with ``_`` for ``-``). CSV cells arrive as strings and are converted to the type of
the field's default: ``"true"``/``"false"`` for booleans, ``"0.1,0.9"`` or ``"[0.1, 0.9]"``
for tuples. A field holding a dataclass (a NeRF config's ``orbit``, ``render``...) takes a
JSON object or dotted names (``orbit.elevation``). Unknown options are an InputError that
lists the known ones.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import InputError

_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}


def _sample(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return field.default_factory()  # type: ignore[misc]
    return None


def _scalar(text: str, kind: type, name: str) -> Any:
    text = text.strip()
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"{name} must be true or false, not {text!r}")
    return kind(text)


def _type_from_annotation(annotation: Any) -> type:
    text = str(annotation)
    for name, kind in (("bool", bool), ("int", int), ("float", float)):
        if text.startswith(name) or f"[{name}" in text or f"| {name}" in text:
            return kind
    return str


def coerce(name: str, value: Any, field: dataclasses.Field) -> Any:
    """``value`` (a string from CSV, or a JSON value) converted for ``field``; a mapping for
    a field holding a dataclass (e.g. a NeRF config's ``orbit``) builds that dataclass."""
    sample = _sample(field)
    if dataclasses.is_dataclass(sample) and isinstance(value, Mapping):
        return build_config(type(sample), value, command=name)
    if isinstance(sample, (tuple, list)):
        items = value
        if isinstance(value, str):
            text = value.strip()
            items = json.loads(text) if text.startswith("[") else [v for v in text.split(",") if v.strip()]
        if not isinstance(items, (list, tuple)):
            items = [items]
        kind = type(sample[0]) if sample else float
        kind = float if kind is int and any("." in str(v) for v in items) else kind
        converted = [_scalar(v, kind, name) if isinstance(v, str) else v for v in items]
        return tuple(converted) if isinstance(sample, tuple) else converted
    if not isinstance(value, str):
        if isinstance(sample, float) and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value
    kind = type(sample) if sample is not None else _type_from_annotation(field.type)
    if kind not in (bool, int, float):
        return value
    if value.strip().lower() in ("none", "null") and sample is None:
        return None
    return _scalar(value, kind, name)


def _nest(options: Mapping[str, Any]) -> dict[str, Any]:
    """``{"orbit.elevation": x}`` -> ``{"orbit": {"elevation": x}}`` (CSV columns for
    nested configs); a mapping given whole is merged with dotted keys."""
    nested: dict[str, Any] = {}
    for name, value in options.items():
        head, dot, rest = name.partition(".")
        if not dot:
            if isinstance(value, Mapping) and isinstance(nested.get(name), dict):
                nested[name].update(value)
            else:
                nested[name] = value
            continue
        group = nested.setdefault(head, {})
        if not isinstance(group, dict):
            raise InputError(f"option {head} is not a group of options; {name} cannot be set")
        group[rest] = value
    return nested


def build_config(config_class: type, options: Mapping[str, Any], *, skip: Iterable[str] = (),
                 fixed: Mapping[str, Any] | None = None, command: str = "") -> Any:
    """An instance of the dataclass ``config_class`` from job ``options``.

    ``skip``: option names consumed elsewhere (the prompt, input files, job keys).
    ``fixed``: values set by the batch (seed, device, quiet) for fields that exist; options
    cannot override them. Raises InputError for unknown options and unconvertible values.
    """
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    skip = set(skip)
    values: dict[str, Any] = {}
    for name, value in _nest(options).items():
        if name in skip or name in (fixed or {}):
            continue
        if name not in fields:
            known = ", ".join(sorted(n for n in fields if n not in (fixed or {})))
            raise InputError(f"unknown option {name!r} for {command or config_class.__name__} jobs; known: {known}")
        try:
            values[name] = coerce(name, value, fields[name])
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            raise InputError(f"bad value {value!r} for option {name}: {exc}") from None
    for name, value in (fixed or {}).items():
        if name in fields:
            values[name] = value
    try:
        return config_class(**values)
    except (TypeError, ValueError) as exc:
        raise InputError(f"bad options for {command or config_class.__name__} jobs: {exc}") from None
