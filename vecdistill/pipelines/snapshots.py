"""Loop callbacks that write the optimisation to disk: snapshots and a video.

- :class:`SnapshotWriter`: every N steps, ``step_00042.svg`` and ``step_00042.png`` (the
  un-augmented render) in a folder.
- :class:`VideoRecorder`: keeps a frame every ``every`` steps and writes an animated GIF
  (Pillow) or an MP4 (imageio with its ffmpeg plugin, when installed) at the end.

Nothing is written per step unless asked (``--save-every`` / ``--video``).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError, OutputError
from ..fileio import atomic_write_bytes
from .loop import StepReport

VIDEO_SUFFIXES = (".gif", ".mp4")


def to_uint8(image: torch.Tensor, scale: int = 1) -> np.ndarray:
    """[1 or none, 3, H, W] in [0, 1] -> [H*scale, W*scale, 3] uint8 (nearest upscaling)."""
    img = image.detach().float().cpu()
    if img.dim() == 4:
        img = img[0]
    arr = (img.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    if scale > 1:
        arr = arr.repeat(scale, 0).repeat(scale, 1)
    return arr


def png_bytes(image: torch.Tensor, scale: int = 1) -> bytes:
    """A PNG file of ``image`` ([3, H, W] or [1, 3, H, W] in [0, 1])."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(to_uint8(image, scale)).save(buf, format="PNG")
    return buf.getvalue()


class SnapshotWriter:
    """Every ``every`` steps (and at the last step), write the scene as SVG and its render as
    PNG into ``folder`` (created if missing). ``precision``: SVG digits."""

    def __init__(self, folder: str | Path, every: int, precision: int = 3) -> None:
        if every <= 0:
            raise InputError(f"--save-every must be a positive number of steps, got {every}")
        self.folder = Path(folder)
        self.every = every
        self.precision = precision
        self.written: list[Path] = []

    def __call__(self, report: StepReport) -> None:
        last = report.step == report.steps - 1
        if (report.step + 1) % self.every and not last:
            return
        from ..svg.write import save_svg

        self.folder.mkdir(parents=True, exist_ok=True)
        stem = self.folder / f"step_{report.step + 1:05d}"
        save_svg(report.scene, stem.with_suffix(".svg"), precision=self.precision)
        atomic_write_bytes(stem.with_suffix(".png"), png_bytes(report.image))
        self.written += [stem.with_suffix(".svg"), stem.with_suffix(".png")]


def mp4_available() -> bool:
    """True when imageio can write MP4 (its ffmpeg plugin is installed)."""
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


def check_video_path(path: str | Path) -> Path:
    """Validate ``--video`` before a run: a .gif, or a .mp4 when an ffmpeg writer exists."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise InputError(f"--video must end in .gif or .mp4; got {p.name}")
    if suffix == ".mp4" and not mp4_available():
        raise InputError("--video .mp4 needs an ffmpeg writer: pip install imageio-ffmpeg, or write a .gif instead")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write {p}: folder {parent} does not exist; create it first")
    return p


class VideoRecorder:
    """Collect a frame every ``every`` steps (and the last); ``close()`` writes the video.

    Frames are the un-augmented renders, upscaled (nearest) to at least ``min_side`` pixels.
    ``fps``: frames per second of the result."""

    def __init__(self, path: str | Path, every: int = 1, fps: int = 20, min_side: int = 256) -> None:
        self.path = check_video_path(path)
        self.every = max(1, every)
        self.fps = fps
        self.min_side = min_side
        self.frames: list[np.ndarray] = []

    def __call__(self, report: StepReport) -> None:
        if report.step % self.every == 0 or report.step == report.steps - 1:
            side = min(report.image.shape[-2:])
            scale = max(1, -(-self.min_side // side))
            self.frames.append(to_uint8(report.image, scale))

    def close(self) -> Path | None:
        """Write the video (None if no frame was recorded)."""
        if not self.frames:
            return None
        if self.path.suffix.lower() == ".gif":
            from PIL import Image

            images = [Image.fromarray(f) for f in self.frames]
            buf = io.BytesIO()
            images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=max(1, round(1000 / self.fps)), loop=0)
            atomic_write_bytes(self.path, buf.getvalue())
        else:
            import imageio.v2 as imageio

            tmp = self.path.with_name(f".{self.path.stem}.tmp.mp4")
            try:
                imageio.mimwrite(tmp, self.frames, fps=self.fps, macro_block_size=1)
                tmp.replace(self.path)
            finally:
                if tmp.exists():
                    tmp.unlink()
        return self.path
