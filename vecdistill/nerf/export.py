"""Writing results: meshes (PLY, OBJ with vertex colours), turntable animations (GIF, MP4
when imageio-ffmpeg is installed), and checkpoints. Every file is written atomically.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..fileio import atomic_write_bytes, atomic_write_text
from .mesh import Mesh

Tensor = torch.Tensor

CHECKPOINT_KIND = "vecdistill-nerf"
CHECKPOINT_VERSION = 1


def _colours_u8(mesh: Mesh) -> np.ndarray:
    cols = mesh.colors if mesh.colors is not None else np.full((len(mesh.vertices), 3), 0.8)
    return np.clip(np.round(np.asarray(cols) * 255), 0, 255).astype(np.uint8)


def write_ply(mesh: Mesh, path: str | Path) -> None:
    """Binary little-endian PLY with float xyz, uchar rgb per vertex and triangle faces."""
    v = np.asarray(mesh.vertices, dtype="<f4")
    c = _colours_u8(mesh)
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment vecdistill nerf mesh\n"
        f"element vertex {len(v)}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        f"element face {len(mesh.faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    vert = np.zeros(len(v), dtype=[("p", "<f4", 3), ("c", "u1", 3)])
    vert["p"], vert["c"] = v, c
    face = np.zeros(len(mesh.faces), dtype=[("n", "u1"), ("i", "<i4", 3)])
    face["n"], face["i"] = 3, mesh.faces
    atomic_write_bytes(path, header.encode("ascii") + vert.tobytes() + face.tobytes())


def write_obj(mesh: Mesh, path: str | Path) -> None:
    """Wavefront OBJ; vertex colours as the common ``v x y z r g b`` extension (read by
    MeshLab, Blender, trimesh)."""
    cols = mesh.colors if mesh.colors is not None else np.full((len(mesh.vertices), 3), 0.8)
    lines = ["# vecdistill nerf mesh"]
    lines += [f"v {x:.5f} {y:.5f} {z:.5f} {r:.4f} {g:.4f} {b:.4f}" for (x, y, z), (r, g, b) in zip(mesh.vertices, cols)]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in mesh.faces]
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_ply(path: str | Path) -> Mesh:
    """Read back a PLY written by :func:`write_ply` (for tests and tools)."""
    data = Path(path).read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    nv = int(next(h for h in header if h.startswith("element vertex")).split()[-1])
    nf = int(next(h for h in header if h.startswith("element face")).split()[-1])
    vert = np.frombuffer(data, dtype=[("p", "<f4", 3), ("c", "u1", 3)], count=nv, offset=end)
    face = np.frombuffer(data, dtype=[("n", "u1"), ("i", "<i4", 3)], count=nf, offset=end + vert.nbytes)
    return Mesh(vert["p"].copy(), face["i"].astype(np.int64), vert["c"].astype(np.float32) / 255)


def to_uint8_frames(images: Tensor) -> list[np.ndarray]:
    """[B, 3, H, W] in [0, 1] -> list of [H, W, 3] uint8 arrays."""
    arr = (images.detach().float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return list(arr)


def write_gif(frames: list[np.ndarray], path: str | Path, fps: float = 12.0) -> None:
    """An endlessly looping GIF of uint8 [H, W, 3] frames (Pillow)."""
    from PIL import Image

    if not frames:
        raise ValueError("no frames to write")
    images = [Image.fromarray(f) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    atomic_write_bytes(path, buf.getvalue())


def mp4_available() -> bool:
    """Whether MP4 can be written (imageio with the imageio-ffmpeg plugin installed)."""
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


def write_mp4(frames: list[np.ndarray], path: str | Path, fps: float = 24.0) -> None:
    """An MP4 of uint8 [H, W, 3] frames; needs imageio-ffmpeg (see :func:`mp4_available`)."""
    import imageio.v2 as imageio

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    try:
        imageio.mimwrite(tmp, frames, fps=fps, macro_block_size=1)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_checkpoint(state: dict, path: str | Path) -> None:
    """``torch.save`` of ``state`` (tagged with kind and version), atomically."""
    buf = io.BytesIO()
    torch.save({"kind": CHECKPOINT_KIND, "version": CHECKPOINT_VERSION, **state}, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`; a folder means its
    ``checkpoint.pt``. Raises InputError for a missing or foreign file."""
    p = Path(path)
    if p.is_dir():
        p = p / "checkpoint.pt"
    if not p.is_file():
        raise InputError(f"no NeRF checkpoint at {p}; give the checkpoint.pt (or the output folder) of 'vecdistill nerf fit' or 'nerf make'")
    try:
        state = torch.load(p, map_location=map_location, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise InputError(f"{p} is not a readable checkpoint ({type(exc).__name__}); give a checkpoint.pt written by vecdistill nerf") from None
    if not isinstance(state, dict) or state.get("kind") != CHECKPOINT_KIND:
        raise InputError(f"{p} is not a vecdistill NeRF checkpoint")
    if state.get("version") != CHECKPOINT_VERSION:
        raise InputError(f"{p} has checkpoint version {state.get('version')}; this vecdistill reads version {CHECKPOINT_VERSION}")
    return state
