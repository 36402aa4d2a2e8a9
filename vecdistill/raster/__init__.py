"""The differentiable rasterizer: exact box-filter coverage, exact gradients, plain PyTorch.

``rasterize(scene, width, height, background=(1, 1, 1)) -> [3, H, W]`` and
``rasterize_batch(scenes_or_scene, width, height, views=None) -> [B, 3, H, W]``;
``render_with(backend, scene, width, height, background)`` picks "ours", "cairosvg" or
"diffvg"; ``pack_parameters(scene)`` packs a scene's points and colours into one leaf tensor
each (faster gradients for many paths). Submodules are imported on first use so that
importing this package stays light.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "rasterize": "vecdistill.raster.render",
    "rasterize_batch": "vecdistill.raster.render",
    "DEFAULT_TOLERANCE": "vecdistill.raster.render",
    "render_with": "vecdistill.raster.backends",
    "BACKENDS": "vecdistill.raster.backends",
    "pack_parameters": "vecdistill.raster.packing",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vecdistill.raster' has no attribute {name!r}")
