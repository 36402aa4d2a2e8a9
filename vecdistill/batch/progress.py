"""A progress bar over a whole batch: jobs done out of the total, with ok/failed/skipped
counts (tqdm, on stderr). Disabled with ``enabled=False`` (``--quiet``)."""

from __future__ import annotations

import sys


class BatchProgress:
    """``start(total, skipped)`` once, ``update(status)`` per finished job, ``close()``."""

    def __init__(self, enabled: bool = True, stream=None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.counts = {"ok": 0, "failed": 0, "skipped": 0}
        self._bar = None

    def start(self, total: int, skipped: int = 0) -> None:
        self.counts["skipped"] = skipped
        if self.enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=skipped, unit="job", desc="batch",
                             file=self.stream, dynamic_ncols=True)
            self._bar.set_postfix(self.counts, refresh=True)

    def update(self, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        if self._bar is not None:
            self._bar.set_postfix(self.counts, refresh=False)
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
