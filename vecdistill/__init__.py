"""vecdistill: make and edit vector graphics by distilling image diffusion models.

The stable Python API (imported lazily so ``import vecdistill`` stays light):

- ``load_svg(path_or_text) -> Scene`` and ``save_svg(scene, path)``
- ``rasterize(scene, width, height, background=(1, 1, 1)) -> [3, H, W]``
- ``make(...)``, ``edit(...)``, ``word(...)``: the pipelines, returning (scene, manifest)
- ``Scene``, ``Path``, ``Group`` and the paint classes
"""

from __future__ import annotations

import importlib
import os

# OpenMP threads that spin while waiting collapse torch's CPU speed 10-30x as soon as another
# process shares the cores (measured: a 64 px render went from 10 ms to 127 ms with 2 threads).
# Passive waiting costs nothing measurable when the machine is idle. Must be set before torch
# loads its OpenMP runtime; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

_EXPORTS = {
    "load_svg": "vecdistill.svg.parse",
    "save_svg": "vecdistill.svg.write",
    "rasterize": "vecdistill.raster",
    "make": "vecdistill.pipelines.make",
    "edit": "vecdistill.pipelines.edit",
    "word": "vecdistill.pipelines.word",
    "Scene": "vecdistill.svg.scene",
    "Path": "vecdistill.svg.scene",
    "Group": "vecdistill.svg.scene",
    "Solid": "vecdistill.svg.scene",
    "LinearGradient": "vecdistill.svg.scene",
    "RadialGradient": "vecdistill.svg.scene",
    "ClipPath": "vecdistill.svg.scene",
    "Affine": "vecdistill.svg.scene",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vecdistill' has no attribute {name!r}")
