"""Atomic file output: write to a temporary file beside the target, then rename.

A reader never sees a half-written output, and a crash leaves the previous file intact.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError

#: check_output_path refuses a folder with less free space than this (bytes)
MIN_FREE_BYTES = 1 << 20

_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator:
    """Open a temporary file next to ``path``; on success rename it over ``path``.

    ``mode`` is ``"w"`` (text) or ``"wb"`` (binary). On any exception the temporary file
    is removed and ``path`` is left untouched; an OSError (disk full, quota, I/O error)
    becomes an :class:`OutputError`.
    """
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write {target}: folder {parent} does not exist; create it first")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror}; choose a writable folder") from None
    binary = "b" in mode
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs follow the umask
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # disk full, quota, read-only...: one line, old file kept
            hint = "the disk is full; free some space" if exc.errno in _FULL else "choose a writable folder"
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}; {hint} ({target.name} was left as it was)") from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_open(path, "w") as handle:
        handle.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def check_output_path(path: str | os.PathLike, overwrite: bool = True) -> Path:
    """Check before a long run that ``path`` can be written; return it as a Path.

    Raises :class:`OutputError` when the folder is missing or not writable, when the
    file exists and ``overwrite`` is False, or when its disk has less than
    :data:`MIN_FREE_BYTES` free.
    """
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise OutputError(f"output {target} is a folder; give a file name")
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"cannot write {target}: {parent} is a file, not a folder; choose another path")
    if not parent.is_dir():
        raise OutputError(f"cannot write {target}: folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {target}: folder {parent} is not writable")
    if target.exists() and not overwrite:
        raise OutputError(f"{target} exists; pass --overwrite to replace it")
    with contextlib.suppress(OSError):
        free = shutil.disk_usage(parent).free
        if free < MIN_FREE_BYTES:
            raise OutputError(f"cannot write {target}: the disk is full ({free} bytes free in {parent}); free some space first")
    return target
