"""The job kinds of ``vecdistill batch``: make, edit, word and nerf, each a thin adapter from
a job's options to its pipeline, called with the worker's already-loaded prior.

| command | required options            | output                          |
|---------|-----------------------------|---------------------------------|
| make    | prompt                      | ``<stem>.svg`` (+ pipeline files) |
| edit    | svg, target (source)        | ``<stem>.svg``                  |
| word    | text, concept               | ``<stem>.svg``                  |
| nerf    | prompt (preset)             | folder ``<stem>/``              |

Every other option is a field of the pipeline's config (``MakeConfig``, ...), e.g. ``steps``,
``paths``, ``method``, ``guidance_scale``. The batch sets ``seed``, ``device`` and quiet
progress itself. ``model`` and ``dtype`` choose the prior (one cache entry per worker).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from ..errors import VecdistillError
from .jobs import JOB_KEYS, Job
from .options import build_config
from .worker import JobContext, JobKind

#: options that choose the prior or the device; the worker's cache handles them
PRIOR_KEYS = ("model", "dtype", "device")


def _fixed(job: Job, device: str) -> dict[str, Any]:
    fixed: dict[str, Any] = {"seed": job.seed, "device": device, "quiet": True, "progress": False,
                             "overwrite": True}
    for key in ("model", "dtype"):
        if job.options.get(key) not in (None, ""):
            fixed[key] = job.options[key]
    return fixed


def _config(job: Job, module: str, class_name: str, consumed: tuple[str, ...], device: str,
            base: Any = None) -> Any:
    try:
        config_class = getattr(importlib.import_module(module), class_name)
    except (ImportError, AttributeError) as exc:
        raise VecdistillError(f"{job.command} jobs need {module}.{class_name}, which does not load here "
                              f"({exc}); reinstall vecdistill") from None
    return build_config(config_class, job.options, skip=JOB_KEYS + PRIOR_KEYS + consumed,
                        fixed=_fixed(job, device), command=job.command,
                        base=base(config_class) if base is not None else None)


#: manifest entries the batch records itself (or that name a worker's scratch folder)
_NOT_INFO = ("command", "seed", "output", "argv")


def _info(manifest: Any) -> dict:
    """The scalar entries of a pipeline's manifest (final loss, path count, steps done...)."""
    if not isinstance(manifest, Mapping):
        return {}
    return {k: v for k, v in manifest.items()
            if k not in _NOT_INFO and (isinstance(v, (int, float, str, bool)) or v is None)}


# -- make ---------------------------------------------------------------------------------
_MAKE = ("vecdistill.pipelines.make", "MakeConfig", ("prompt",))


def check_make(job: Job) -> None:
    _config(job, *_MAKE, device="cpu")


def run_make(job: Job, ctx: JobContext) -> dict:
    from ..pipelines.make import make

    config = _config(job, *_MAKE, device=ctx.device)
    _, manifest = make(str(job.options["prompt"]), out=ctx.output(".svg"), config=config, prior=ctx.prior)
    return _info(manifest)


# -- edit ---------------------------------------------------------------------------------
_EDIT = ("vecdistill.pipelines.edit", "EditConfig", ("svg", "source", "target"))


def check_edit(job: Job) -> None:
    _config(job, *_EDIT, device="cpu")


def run_edit(job: Job, ctx: JobContext) -> dict:
    from ..pipelines.edit import edit

    config = _config(job, *_EDIT, device=ctx.device)
    _, manifest = edit(ctx.inputs["svg"], out=ctx.output(".svg"), source=str(job.options.get("source", "")),
                       target=str(job.options["target"]), config=config, prior=ctx.prior)
    return _info(manifest)


# -- word ---------------------------------------------------------------------------------
_WORD = ("vecdistill.pipelines.word", "WordConfig", ("text", "concept"))


def check_word(job: Job) -> None:
    _config(job, *_WORD, device="cpu")


def run_word(job: Job, ctx: JobContext) -> dict:
    from ..pipelines.word import word

    config = _config(job, *_WORD, device=ctx.device)
    _, manifest = word(str(job.options["text"]), out=ctx.output(".svg"), concept=str(job.options["concept"]),
                       config=config, prior=ctx.prior)
    return _info(manifest)


# -- nerf (text to 3D) ----------------------------------------------------------------
_NERF = ("vecdistill.pipelines.nerf_make", "NerfMakeConfig", ("prompt", "preset"))


def _nerf_preset(job: Job, device: str):
    """The NeRF CLI's rule: option ``preset`` (cpu | gpu | tiny), else gpu on CUDA, else cpu;
    the job's other options then apply on top of the preset's sizes."""
    from ..pipelines.nerf_common import apply_preset

    name = str(job.options.get("preset") or ("gpu" if device.startswith("cuda") else "cpu"))
    return lambda config_class: apply_preset(config_class(), name)


def check_nerf(job: Job) -> None:
    _config(job, *_NERF, device="cpu", base=_nerf_preset(job, "cpu"))


def run_nerf(job: Job, ctx: JobContext) -> dict:
    from ..pipelines.nerf_make import make

    config = _config(job, *_NERF, device=ctx.device, base=_nerf_preset(job, ctx.device))
    # resume: a job interrupted in an earlier run continues from its checkpoint
    _, manifest = make(str(job.options["prompt"]), ctx.output(""), config=config, prior=ctx.prior, resume=True)
    return _info(manifest)


KINDS: dict[str, JobKind] = {
    "make": JobKind("make", run_make, required=("prompt",), check=check_make),
    "edit": JobKind("edit", run_edit, required=("svg", "target"), input_files=("svg",), check=check_edit),
    "word": JobKind("word", run_word, required=("text", "concept"), check=check_word),
    "nerf": JobKind("nerf", run_nerf, required=("prompt",), check=check_nerf),
}
