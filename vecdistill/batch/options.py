"""Per-job options -> a pipeline's config dataclass (``MakeConfig``, ``EditConfig``, ...).

Option names are the config's field names (the same names as the command's TOML keys and
flags, with ``_`` for ``-``). CSV cells arrive as strings and are converted to the field's
annotated type (``int | None``, ``tuple[float, float] | None``...; the default's type when
annotations cannot be resolved): ``"true"``/``"false"`` for booleans, ``"0.1,0.9"`` or
``"[0.1, 0.9]"`` for tuples, ``"none"`` for None where allowed. A field holding a dataclass (a NeRF config's ``orbit``, ``render``...) takes a
JSON object or dotted names (``orbit.elevation``). Unknown options are an InputError that
lists the known ones.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import InputError

_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}
_NONE = {"none", "null", ""}


def _sample(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return field.default_factory()  # type: ignore[misc]
    return None


def _field_types(config_class: type) -> dict[str, Any]:
    """Field name -> its resolved annotation (empty if they cannot be resolved)."""
    try:
        return typing.get_type_hints(config_class)
    except Exception:  # noqa: BLE001 - unresolvable forward references: fall back to defaults
        return {}


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """(the type without ``| None``, whether None is allowed)."""
    args = typing.get_args(tp)
    if args and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else tp), True
    return tp, False


def _scalar(text: str, kind: Any, name: str) -> Any:
    text = text.strip()
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"{name} must be true or false, not {text!r}")
    if kind in (int, float):
        return kind(text)
    return text


def _sequence(name: str, value: Any, container: type, element: Any) -> Any:
    items = value
    if isinstance(value, str):
        text = value.strip()
        items = json.loads(text) if text.startswith("[") else [v.strip() for v in text.split(",") if v.strip()]
    if not isinstance(items, (list, tuple)):
        items = [items]
    converted = []
    for item in items:
        if isinstance(item, str):
            item = _scalar(item, element, name)
        elif element is float and isinstance(item, int) and not isinstance(item, bool):
            item = float(item)
        converted.append(item)
    return tuple(converted) if container is tuple else converted


def coerce(name: str, value: Any, field: dataclasses.Field, annotation: Any = None, current: Any = None) -> Any:
    """``value`` (a string from CSV, or a JSON value) converted for ``field``, whose resolved
    type is ``annotation`` (None: judged from the default). A mapping for a field holding a
    dataclass (e.g. a NeRF config's ``orbit``) updates ``current`` (that field's value in a
    base config) or the default."""
    sample = _sample(field)
    if dataclasses.is_dataclass(sample) and isinstance(value, Mapping):
        base = current if dataclasses.is_dataclass(current) else None
        return build_config(type(sample), value, command=name, base=base)
    tp, optional = _unwrap(annotation) if annotation is not None else (None, sample is None)
    if isinstance(value, str) and optional and value.strip().lower() in _NONE:
        return None
    origin = typing.get_origin(tp) or (type(sample) if isinstance(sample, (tuple, list)) else None)
    if origin in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        element = args[0] if args else (type(sample[0]) if sample else str)
        return _sequence(name, value, origin, element)
    kind = tp if tp in (bool, int, float, str) else (type(sample) if sample is not None else None)
    if isinstance(value, str):
        return _scalar(value, kind, name) if kind in (bool, int, float) else value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


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
                 fixed: Mapping[str, Any] | None = None, command: str = "", base: Any = None) -> Any:
    """An instance of the dataclass ``config_class`` from job ``options``.

    ``skip``: option names consumed elsewhere (the prompt, input files, job keys).
    ``fixed``: values set by the batch (seed, device, quiet) for fields that exist; options
    cannot override them. ``base``: a ``config_class`` instance (e.g. a preset) the options
    are applied to, instead of the defaults. Raises InputError for unknown options and
    unconvertible values.
    """
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    types = _field_types(config_class)
    skip = set(skip)
    values: dict[str, Any] = {}
    for name, value in _nest(options).items():
        if name in skip or name in (fixed or {}):
            continue
        if name not in fields:
            known = ", ".join(sorted(n for n in fields if n not in (fixed or {})))
            raise InputError(f"unknown option {name!r} for {command or config_class.__name__} jobs; known: {known}")
        try:
            current = getattr(base, name) if base is not None else None
            values[name] = coerce(name, value, fields[name], types.get(name), current)
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            raise InputError(f"bad value {value!r} for option {name}: {exc}") from None
    for name, value in (fixed or {}).items():
        if name in fields:
            values[name] = value
    try:
        return dataclasses.replace(base, **values) if base is not None else config_class(**values)
    except (TypeError, ValueError) as exc:
        raise InputError(f"bad options for {command or config_class.__name__} jobs: {exc}") from None
