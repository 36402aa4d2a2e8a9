"""Posed images in the ``transforms.json`` format of instant-ngp and nerfstudio.

Read: a folder (or the JSON file itself) holding ``transforms.json``::

    {"camera_angle_x": 0.69,            # horizontal fov in radians (Blender synthetic), or
     "fl_x": 555.5, "fl_y": 555.5, "cx": 400, "cy": 400, "w": 800, "h": 800,
     "frames": [{"file_path": "./train/r_0", "transform_matrix": [[...4x4 c2w...]]}, ...]}

Intrinsics may also be given per frame (nerfstudio). ``file_path`` is relative to the
JSON's folder; a missing extension means ``.png``. Poses are camera-to-world, OpenGL
convention (see :mod:`vecdistill.nerf.cameras`), used as they are: the scene must fit in
the field's cube [-bound, bound]^3 (``--bound``). instant-ngp's ``scale``/``offset``/
``aabb_scale`` keys and nerfstudio's ``applied_transform`` are ignored; distortion
parameters are not supported (undistort first). All images must share one size.

Images with an alpha channel keep it (training composites them on random backgrounds);
others get alpha 1.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..fileio import atomic_write_bytes, atomic_write_text
from .cameras import Cameras

Tensor = torch.Tensor


@dataclass
class PosedImages:
    """``images``: [N, 4, H, W] float32 RGBA in [0, 1] (straight alpha); ``cameras``: N
    cameras of the same H x W; ``path``: the transforms.json read; ``names``: file names."""

    images: Tensor
    cameras: Cameras
    path: Path
    names: list[str]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def composited(self, background: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> Tensor:
        """[N, 3, H, W] RGB on a solid background colour."""
        bg = torch.tensor(background, dtype=self.images.dtype).view(1, 3, 1, 1)
        rgb, a = self.images[:, :3], self.images[:, 3:4]
        return rgb * a + bg * (1 - a)


def _resolve(path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / "transforms.json"
    if not p.is_file():
        raise InputError(f"no transforms.json at {path}; give a folder with transforms.json and its images (instant-ngp / nerfstudio format)")
    return p


def _intrinsics(meta: dict, frame: dict, w: int, h: int, where: str) -> tuple[float, float, float, float]:
    get = lambda k: frame.get(k, meta.get(k))  # noqa: E731
    fx, fy = get("fl_x"), get("fl_y")
    if fx is None and get("camera_angle_x") is not None:
        fx = 0.5 * w / math.tan(0.5 * float(get("camera_angle_x")))
    if fy is None and get("camera_angle_y") is not None:
        fy = 0.5 * h / math.tan(0.5 * float(get("camera_angle_y")))
    if fx is None and fy is None:
        raise InputError(f"{where}: no focal length; give camera_angle_x or fl_x/fl_y")
    fx = fy if fx is None else fx
    fy = fx if fy is None else fy
    cx = get("cx") if get("cx") is not None else w / 2
    cy = get("cy") if get("cy") is not None else h / 2
    return float(fx), float(fy), float(cx), float(cy)


def load_transforms(path: str | Path, max_size: int | None = None, limit: int | None = None) -> PosedImages:
    """Read a transforms.json dataset (see the module docstring).

    ``max_size``: downscale (area filter) so that the longer side is at most this many
    pixels, intrinsics scaled along. ``limit``: read only the first frames.
    """
    from PIL import Image

    p = _resolve(path)
    try:
        meta = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{p} is not valid JSON: {exc}") from None
    frames = meta.get("frames") if isinstance(meta, dict) else None
    if not frames:
        raise InputError(f"{p} has no frames; it needs a 'frames' list of file_path + transform_matrix")
    frames = frames[:limit] if limit else frames
    images, c2ws, intr, names = [], [], [], []
    size = None
    for i, fr in enumerate(frames):
        where = f"{p.name} frame {i}"
        if "file_path" not in fr or "transform_matrix" not in fr:
            raise InputError(f"{where}: needs file_path and transform_matrix")
        img_path = p.parent / fr["file_path"]
        if not img_path.suffix:
            img_path = img_path.with_suffix(".png")
        if not img_path.is_file():
            raise InputError(f"{where}: image {img_path} not found")
        try:
            im = Image.open(img_path)
            im.load()
        except OSError as exc:
            raise InputError(f"{where}: cannot read {img_path}: {exc}") from None
        im = im.convert("RGBA")
        w0, h0 = im.size
        if size is None:
            size = (w0, h0)
        elif size != (w0, h0):
            raise InputError(f"{where}: image is {w0}x{h0} but earlier ones are {size[0]}x{size[1]}; all images must share one size")
        fx, fy, cx, cy = _intrinsics(meta, fr, w0, h0, where)
        m = np.asarray(fr["transform_matrix"], dtype=np.float32)
        if m.shape == (3, 4):
            m = np.concatenate([m, np.array([[0, 0, 0, 1]], np.float32)])
        if m.shape != (4, 4) or not np.isfinite(m).all():
            raise InputError(f"{where}: transform_matrix must be a finite 4x4 (or 3x4) matrix")
        images.append(im)
        c2ws.append(m)
        intr.append((fx, fy, cx, cy))
        names.append(str(fr["file_path"]))
    w0, h0 = size
    scale = 1.0
    if max_size is not None and max(w0, h0) > max_size:
        scale = max_size / max(w0, h0)
    w, h = max(1, round(w0 * scale)), max(1, round(h0 * scale))
    arrs = []
    for im in images:
        if (w, h) != (w0, h0):
            im = im.resize((w, h), Image.Resampling.BOX)
        arrs.append(np.asarray(im, dtype=np.float32) / 255.0)
    imgs = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).contiguous()
    k = torch.tensor(intr, dtype=torch.float32)
    cams = Cameras(torch.from_numpy(np.stack(c2ws)), k[:, 0], k[:, 1], k[:, 2], k[:, 3], w0, h0)
    if (w, h) != (w0, h0):
        cams = cams.resized(w, h)
    return PosedImages(imgs, cams, p, names)


def write_transforms(folder: str | Path, images: Tensor, cameras: Cameras, prefix: str = "frame") -> Path:
    """Write ``images`` [N, 3 or 4, H, W] in [0, 1] as PNGs plus a transforms.json for
    ``cameras`` into ``folder`` (created if missing). Returns the JSON's path."""
    import io

    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arr = (images.detach().float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    frames = []
    for i, a in enumerate(arr):
        name = f"{prefix}_{i:04d}.png"
        buf = io.BytesIO()
        Image.fromarray(a, "RGBA" if a.shape[-1] == 4 else "RGB").save(buf, format="PNG")
        atomic_write_bytes(folder / name, buf.getvalue())
        frames.append({
            "file_path": name,
            "transform_matrix": cameras.c2w[i].tolist(),
            "fl_x": float(cameras.fx[i]), "fl_y": float(cameras.fy[i]),
            "cx": float(cameras.cx[i]), "cy": float(cameras.cy[i]),
        })
    meta = {"w": cameras.width, "h": cameras.height, "frames": frames}
    out = folder / "transforms.json"
    atomic_write_text(out, json.dumps(meta, indent=1))
    return out
