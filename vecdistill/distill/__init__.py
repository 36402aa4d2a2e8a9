"""The distillation objectives (SDS, SDI, DDS, PDS, VSD) and ``build_objective``.

Each objective is called as ``objective(x0, progress, generator, reference=None) ->
DistillResult`` (see :mod:`vecdistill.distill.base`). ``build_objective`` maps a method name
and prompt strings onto an objective with its config dataclass.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import InputError
from .base import DistillResult, Objective, sanitize, target_loss
from .dds import DDS, DDSConfig
from .pds import PDS, PDSConfig
from .sdi import SDI, SDIConfig
from .sds import SDS, SDSConfig
from .vsd import VSD, VSDConfig

# method -> (objective class, config class, needs a source prompt)
METHODS: dict[str, tuple[type, type, bool]] = {
    "sds": (SDS, SDSConfig, False),
    "sdi": (SDI, SDIConfig, False),
    "vsd": (VSD, VSDConfig, False),
    "dds": (DDS, DDSConfig, True),
    "pds": (PDS, PDSConfig, True),
}


def build_objective(method: str, prior: Any, target: Any, source: Any = None, negative: str = "", **config_overrides: Any) -> Objective:
    """An objective for ``method`` ("sds" | "sdi" | "vsd" | "dds" | "pds").

    ``target`` / ``source``: prompt strings (encoded with ``prior.encode_prompt(text,
    negative)``) or ready :class:`~vecdistill.priors.base.PromptCondition` objects. DDS and
    PDS need ``source``. ``config_overrides``: fields of the method's config dataclass (e.g.
    ``guidance_scale=7.5``); an unknown field raises InputError naming the valid ones.
    """
    key = str(method).lower()
    if key not in METHODS:
        raise InputError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    cls, config_cls, needs_source = METHODS[key]
    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(config_overrides) - fields)
    if unknown:
        raise InputError(f"{key}: unknown option(s) {', '.join(unknown)}; valid: {', '.join(sorted(fields))}")
    config = config_cls(**config_overrides)

    def encode(p: Any) -> Any:
        return prior.encode_prompt(p, negative) if isinstance(p, str) else p

    if needs_source:
        if source is None:
            raise InputError(f"{key} edits from a source prompt to a target prompt: give a source prompt")
        return cls(prior, encode(source), encode(target), config)
    return cls(prior, encode(target), config)


__all__ = [
    "DDS", "DDSConfig", "PDS", "PDSConfig", "SDI", "SDIConfig", "SDS", "SDSConfig", "VSD", "VSDConfig",
    "METHODS", "DistillResult", "Objective", "build_objective", "sanitize", "target_loss",
]
