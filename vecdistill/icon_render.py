"""Render many small SVG documents to pixels with cairosvg, in parallel processes.

Kept free of torch (only numpy and cairosvg) so that worker processes, started with the
``spawn`` method (safe in a process that already runs torch threads), start quickly.
cairosvg spends its time in Python (parsing path data), so the speed-up is about the number
of cores; small jobs and single-core machines render in the calling process.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
from collections.abc import Sequence

import numpy as np

MIN_PER_WORKER = 64  # fewer icons than this per worker: not worth a process
MIN_CORES = 4  # with fewer cores, starting processes costs about what it saves


def render_svg_bytes(svg: bytes, size: int) -> np.ndarray:
    """Render an SVG document to ``size`` x ``size`` pixels on white (the viewBox scaled to
    fit, cairo's antialiasing). Returns uint8 [size, size, 3] RGB."""
    from cairosvg.parser import Tree
    from cairosvg.surface import PNGSurface

    surface = PNGSurface(Tree(bytestring=svg), None, 96, output_width=size, output_height=size, background_color="white")
    image = surface.cairo
    image.flush()
    stride = image.get_stride()
    # cairo ARGB32 is native-endian: bytes B, G, R, A on little-endian machines
    data = np.ndarray((size, stride // 4, 4), np.uint8, image.get_data())[:, :size]
    order = [2, 1, 0] if np.little_endian else [1, 2, 3]
    return np.ascontiguousarray(data[..., order])


def _render_chunk(svgs: Sequence[bytes], size: int) -> tuple[np.ndarray, int, str]:
    """Worker: (pixels [n, size, size, 3], index of the first failure or -1, its message)."""
    out = np.empty((len(svgs), size, size, 3), np.uint8)
    for i, svg in enumerate(svgs):
        try:
            out[i] = render_svg_bytes(svg, size)
        except Exception as exc:  # cairosvg raises many types for a bad document
            return out, i, f"{type(exc).__name__}: {exc}"
    return out, -1, ""


class RenderError(Exception):
    """Document ``index`` could not be rendered (``message`` says why)."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.message = message


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def render_many(svgs: Sequence[bytes], size: int, workers: int | None = None) -> np.ndarray:
    """Render every document: uint8 [N, size, size, 3]. ``workers``: processes to use
    (default: with at least ``MIN_CORES`` available cores, one per core, at most 8, at least
    ``MIN_PER_WORKER`` documents each; else 1, this process); falls back to this process if
    processes cannot be started. Raises :class:`RenderError` for the first document that
    fails."""
    n = len(svgs)
    if workers is None:
        cores = available_cores()
        workers = min(cores, 8, max(1, n // MIN_PER_WORKER)) if cores >= MIN_CORES else 1
    if workers > 1:
        try:
            return _render_parallel(svgs, size, workers)
        except (OSError, concurrent.futures.process.BrokenProcessPool):
            pass
    pixels, bad, message = _render_chunk(svgs, size)
    if bad >= 0:
        raise RenderError(bad, message)
    return pixels


def _render_parallel(svgs: Sequence[bytes], size: int, workers: int) -> np.ndarray:
    bounds = np.linspace(0, len(svgs), workers + 1).astype(int)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(_render_chunk, list(svgs[a:b]), size) for a, b in zip(bounds[:-1], bounds[1:])]
        parts = []
        for start, future in zip(bounds[:-1], futures):
            pixels, bad, message = future.result()
            if bad >= 0:
                raise RenderError(int(start) + bad, message)
            parts.append(pixels)
    return np.concatenate(parts)
