"""Batch runs: many jobs (prompts x seeds, SVGs to edit, ...) with the model loaded once per
worker, a resumable JSONL manifest, and two engines (one local process, or Ray actors).

- :mod:`.jobs`: parse a JOBS file into :class:`~.jobs.Job` objects with stable ids.
- :mod:`.kinds`: what each job command (make, edit, word, nerf) runs; :mod:`.options`:
  per-job options -> the pipeline's config dataclass.
- :mod:`.worker`: the per-worker model cache and the function that executes one job.
- :mod:`.manifest`: the append-only manifest and the resume plan.
- :mod:`.local` / :mod:`.ray_engine`: the engines; :mod:`.runner` ties them together;
  :mod:`.progress`: the bar over the whole batch.
"""

from __future__ import annotations
