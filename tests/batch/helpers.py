"""A job kind for testing the batch machinery without a diffusion model: ``echo`` writes its
options to ``<stem>.txt``; option ``sleep`` (seconds) makes it slow, ``fail`` makes it raise
(``fail: "input"`` an InputError, ``"crash"`` kills the process, anything else a
ValueError, like a pipeline bug).

Defined here, not in the product. ``counting_loader`` stands in for ``load_prior``."""

from __future__ import annotations

import json
import os
import time

from vecdistill.batch.worker import JobKind
from vecdistill.errors import InputError


class FakePrior:
    def __init__(self, model, device, dtype):
        self.name = f"fake:{model}"
        self.device = device
        self.dtype = dtype


def counting_loader(model, device, dtype):
    return FakePrior(model, device, dtype)


def run_echo(job, ctx):
    sleep = float(job.options.get("sleep", 0))
    if sleep:
        time.sleep(sleep)
    fail = job.options.get("fail")
    if fail == "crash":  # the worker process dies (out of memory, segfault...)
        os._exit(3)
    if fail == "input":
        raise InputError(f"cannot do {job.options.get('prompt')!r}")
    if fail:
        raise ValueError("boom")
    payload = {"prompt": job.options.get("prompt"), "seed": job.seed, "device": ctx.device,
               "prior": ctx.prior.name if ctx.prior is not None else None, "inputs": {k: str(v) for k, v in ctx.inputs.items()}}
    if "svg" in ctx.inputs:
        payload["svg_text"] = ctx.inputs["svg"].read_text()
    with open(ctx.output(".txt"), "w") as handle:
        handle.write(json.dumps(payload))
    return {"length": len(str(job.options.get("prompt", "")))}


def check_echo(job):
    if "bad" in job.options:
        raise InputError("option bad is not allowed")


KINDS = {"echo": JobKind("echo", run_echo, input_files=("svg",), check=check_echo)}
