"""vecdistill: make and edit vector graphics by distilling image diffusion models.

The stable Python API (imported lazily so ``import vecdistill`` stays light):

- ``load_svg(path_or_text) -> Scene`` and ``save_svg(scene, path)``
- ``rasterize(scene, width, height, background=(1, 1, 1)) -> [3, H, W]``
- ``make(...)``, ``edit(...)``, ``word(...)``: the pipelines, returning (scene, manifest)
- ``Scene``, ``Path``, ``Group`` and the paint classes
"""

from __future__ import annotations

import importlib

from .runtime import configure_process

# OpenMP passive waiting and glibc heap settings that make torch's CPU kernels fast (see
# vecdistill/runtime.py; VECDISTILL_MALLOPT=0 and an OMP_WAIT_POLICY of your own opt out)
configure_process()

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
