"""The user cache folder, and crash-safe reading and writing of cached tensors.

The folder is ``$VECDISTILL_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/vecdistill``, else
``~/.cache/vecdistill``. Cache files are written atomically (temporary file, then rename),
so concurrent processes and crashes never leave a half-written file; a file that cannot be
read back (truncated, corrupt, another format) is reported as missing and gets rebuilt.
Caching is best effort: an unwritable folder only means nothing is cached.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .errors import VecdistillError
from .fileio import atomic_open


def cache_dir() -> Path:
    """The user cache folder of vecdistill (not created here)."""
    override = os.environ.get("VECDISTILL_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "vecdistill"


def load_cached(path: str | os.PathLike) -> dict[str, Any] | None:
    """The dict saved at ``path`` by :func:`save_cached`, or None if the file is missing or
    cannot be read (corrupt, truncated, not a dict). Tensors come back on the CPU."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # any unreadable file is a cache miss, never an error
        return None
    return payload if isinstance(payload, dict) else None


def save_cached(path: str | os.PathLike, payload: dict[str, Any]) -> bool:
    """Save ``payload`` (tensors, numbers, strings, lists, dicts) to ``path`` atomically,
    creating the folder. Returns False (and writes nothing) when the folder is not
    writable."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "wb") as handle:
            torch.save(payload, handle)
    except (OSError, VecdistillError):
        return False
    return True
