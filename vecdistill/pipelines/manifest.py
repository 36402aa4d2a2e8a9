"""The JSON manifest written next to every output (``OUT.json`` beside ``OUT.svg``).

It records how the output was made, so that a run can be repeated and compared: the
command line, the full resolved config, the seed, the prior, per-stage timings, the final
loss, the path count and the versions of vecdistill, torch and diffusers.
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import sys
from importlib import metadata
from pathlib import Path

from ..fileio import atomic_write_text
from .loop import LoopResult


def versions() -> dict[str, str | None]:
    """Installed versions of the packages a result depends on (None if not installed);
    read from package metadata, so nothing heavy is imported."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("vecdistill", "torch", "diffusers"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    if out["vecdistill"] is None:
        from .. import __version__

        out["vecdistill"] = __version__
    return out


def _jsonable(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def timing_summary(result: LoopResult) -> dict:
    """Seconds per stage (total and per step, in ms) and the overall wall time."""
    steps = max(result.steps_done, 1)
    return {
        "total_s": {k: round(v, 6) for k, v in result.timings.items()},
        "per_step_ms": {k: round(1000 * v / steps, 4) for k, v in result.timings.items()},
        "wall_s": round(result.wall_seconds, 4),
        "steps_per_s": round(result.steps_done / result.wall_seconds, 3) if result.wall_seconds > 0 else None,
    }


def build_manifest(
    command: str,
    config,
    result: LoopResult,
    *,
    prior: dict | None,
    output: str | None,
    path_count: int,
    argv: list[str] | None = None,
    extra: dict | None = None,
) -> dict:
    """The manifest as a JSON-ready dict. ``config``: the resolved pipeline config
    (dataclass); ``prior``: ``prior.describe()`` plus anything the pipeline adds."""
    history = result.history
    stride = max(1, len(history) // 100)
    manifest = {
        "command": command,
        "argv": list(argv) if argv is not None else None,
        "output": output,
        "seed": getattr(config, "seed", None),
        "config": _jsonable(config),
        "prior": _jsonable(prior),
        "steps_done": result.steps_done,
        "interrupted": result.interrupted,
        "final_loss": _jsonable(result.final_loss),
        "best_step": result.best_step,
        "skipped_steps": result.skipped,
        "objective_skipped_steps": result.objective_skipped,
        "loss_curve": {"stride": stride, "values": _jsonable(history[::stride])},
        "timings": timing_summary(result),
        "path_count": path_count,
        "versions": versions(),
        "platform": {"system": platform.system(), "machine": platform.machine(), "argv0": sys.argv[0] if sys.argv else None},
    }
    if getattr(result, "error", None) is not None:
        manifest["error"] = str(result.error)
    if getattr(result, "resumed_from", None) is not None:
        manifest["resumed_from"] = result.resumed_from
    if extra:
        manifest.update(_jsonable(extra))
    return manifest


def manifest_path(out: str | Path) -> Path:
    """``OUT.json`` next to ``OUT.svg``."""
    return Path(out).with_suffix(".json")


def write_manifest(manifest: dict, path: str | Path) -> None:
    """Write ``manifest`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(manifest, indent=2, sort_keys=False) + "\n")
