"""A progress bar callback for the loop: tqdm on stderr with the loss and steps/s."""

from __future__ import annotations

import sys

from .loop import StepReport


class ProgressBar:
    """``callback(report)`` advances a tqdm bar (total = steps) showing the loss; ``close()``
    ends it. ``desc``: the bar's label."""

    def __init__(self, steps: int, desc: str = "", file=None) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=steps, desc=desc, unit="step", file=file or sys.stderr, dynamic_ncols=True, leave=True)

    def __call__(self, report: StepReport) -> None:
        self.bar.set_postfix(loss=f"{report.loss:.4g}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
