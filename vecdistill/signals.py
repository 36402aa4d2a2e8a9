"""SIGTERM handled like Ctrl-C, for the command line.

``kill PID`` (SIGTERM, what batch schedulers and ``timeout`` send) normally ends Python at
once, skipping the clean-up a Ctrl-C gets. :func:`sigterm_as_interrupt` installs a handler
that raises KeyboardInterrupt instead, so a killed run takes the same path as Ctrl-C: the
pipelines write the best-so-far SVG, the manifest and (with ``--checkpoint-every``) the
checkpoint, then the CLI exits with :func:`interrupt_exit_code` (143 for SIGTERM, 130 for
Ctrl-C, the shell's conventions). Only the CLI installs it; library code never does.

:func:`held` keeps a Ctrl-C (or that SIGTERM) from cutting a block halfway: the
interrupt is raised when the block ends. For steps whose state changes in several places
at once and is too large to copy every step (a NeRF step: its field, Adam's moments and the
generator), so that what Ctrl-C saves is a step boundary.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

_received: list[int] = []


def _handler(signum, frame) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


def sigterm_as_interrupt() -> bool:
    """Make SIGTERM raise KeyboardInterrupt in the main thread. Returns False where it cannot
    be installed (not the main thread, or no SIGTERM on this platform)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        return False
    signal.signal(signal.SIGTERM, _handler)
    return True


def interrupt_exit_code() -> int:
    """143 (128 + 15) if a SIGTERM caused the interrupt, else 130 (128 + SIGINT)."""
    return 128 + signal.SIGTERM if _received else 130


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Inside the block, SIGTERM raises KeyboardInterrupt (and counts for
    :func:`interrupt_exit_code`) whatever handler was set meanwhile (Ray's start-up sets its
    own); the previous handler comes back after. Outside the main thread it does nothing."""
    try:
        previous = signal.signal(signal.SIGTERM, _handler)
    except (ValueError, AttributeError):  # not the main thread, or no SIGTERM here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


#: Called (no arguments) when a :func:`held` block holds a first signal: the command line
#: says that the step finishes first and how to stop at once. Library code leaves it None.
on_hold: Callable[[], None] | None = None


class _Held:
    """The signals received while a :func:`held` block runs (a second one raises at once)."""

    def __init__(self) -> None:
        self.pending: int | None = None

    def __call__(self, signum, frame) -> None:
        if self.pending is not None:  # asked twice: stop now, mid-block
            _count(self.pending)
            _count(signum)
            raise KeyboardInterrupt
        self.pending = signum
        if on_hold is not None:
            on_hold()


def _count(signum: int) -> None:
    if signum == signal.SIGTERM:
        _received.append(signum)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Inside the block, a Ctrl-C (while SIGINT raises KeyboardInterrupt, Python's default)
    and a SIGTERM (while :func:`sigterm_as_interrupt`'s handler is set) are held and raised
    as KeyboardInterrupt when the block ends normally; a second one raises at once (the block
    is then cut halfway: the caller must not treat its state as whole). Other handlers are
    left alone; outside the main thread it does nothing. Costs four ``signal.signal`` calls
    (a few microseconds)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    holder = _Held()
    swapped = {}
    for signum, ours in ((signal.SIGINT, signal.default_int_handler), (getattr(signal, "SIGTERM", None), _handler)):
        if signum is not None and signal.getsignal(signum) is ours:
            swapped[signum] = signal.signal(signum, holder)
    try:
        yield
    finally:
        for signum, previous in swapped.items():
            signal.signal(signum, previous)
    if holder.pending is not None:
        _count(holder.pending)
        raise KeyboardInterrupt
