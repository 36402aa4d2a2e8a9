"""The 2D study: SDS, DDS and PDS moving points with an exact Gaussian-mixture prior.

Red points are samples of the *source* class ("red", a 2D mixture of three Gaussians on the
left); the *target* class ("blue") is another three-Gaussian mixture on the right. Each point
is an x0 optimised directly (the prior's ``encode`` is the identity) by plain gradient
descent ``x <- x - lr * g`` with ``g`` from the very objective classes the SVG and NeRF
pipelines use:

- SDS toward "blue";
- DDS from "red" to "blue", the reference being each point's start;
- PDS from "red" to "blue", likewise.

Metrics of the end points X (N x 2) against the start points X0:

- ``in_target``: share of end points within 3 standard deviations of some target
  component (Mahalanobis distance ``sqrt(sum_d (x_d - mu_kd)^2 / s_kd) <= 3``);
- ``diversity``: mean pairwise Euclidean distance between end points (the start cloud has
  about 1.6; a collapse onto a few modes gives a small value);
- ``displacement``: mean Euclidean distance ``|x_end - x_start|`` (how far the edit moved
  each point: smaller means more of the original is kept).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import torch

from ..distill import build_objective
from ..fileio import atomic_write_bytes
from ..priors.gmm import GaussianMixturePrior

Tensor = torch.Tensor

METHODS = ("sds", "dds", "pds")

SOURCE_MEANS = [[-3.0, 1.2], [-3.0, -1.2], [-1.5, 0.0]]
TARGET_MEANS = [[2.0, 2.0], [3.5, 0.0], [2.0, -2.0]]
COMPONENT_VARIANCE = 0.15


@dataclass
class ToyConfig:
    """steps: gradient steps per method. points: red points moved. seed: start points and
    the objectives' randomness. guidance_scale: CFG scale of every objective (1 = the exact
    conditional score; larger scales overshoot the target). lr: step size per method.
    record_every: keep a trajectory point every this many steps."""

    steps: int = 400
    points: int = 256
    seed: int = 0
    guidance_scale: float = 1.5
    lr: dict[str, float] = field(default_factory=lambda: {"sds": 0.05, "dds": 0.05, "pds": 0.05})
    record_every: int = 10


@dataclass
class ToyResult:
    """start: [N, 2]; trajectories: method -> [S, N, 2] (S recorded steps, the last is the
    end); metrics: method -> {"in_target", "diversity", "displacement"}."""

    prior: GaussianMixturePrior
    start: Tensor
    trajectories: dict[str, Tensor]
    metrics: dict[str, dict[str, float]]


def toy_prior(dtype: torch.dtype = torch.float32) -> GaussianMixturePrior:
    """The two classes of the study, "red" (source) and "blue" (target), on CPU."""
    return GaussianMixturePrior({"red": (SOURCE_MEANS, COMPONENT_VARIANCE), "blue": (TARGET_MEANS, COMPONENT_VARIANCE)}, dtype=dtype)


def toy_metrics(end: Tensor, start: Tensor, prior: GaussianMixturePrior) -> dict[str, float]:
    """The three numbers of the module docstring for end points [N, 2] from start [N, 2]."""
    mix = prior.classes["blue"]
    e = end.double()
    maha = (((e[:, None, :] - mix.means[None]) ** 2) / mix.variances[None]).sum(-1).sqrt().min(1).values
    return {
        "in_target": round(float((maha <= 3).double().mean()), 4),
        "diversity": round(float(torch.pdist(e).mean()), 4),
        "displacement": round(float((e - start.double()).norm(dim=1).mean()), 4),
    }


def run_toy(config: ToyConfig | None = None) -> ToyResult:
    """Move the same red points with SDS, DDS and PDS; see the module docstring."""
    c = config or ToyConfig()
    prior = toy_prior()
    start = prior.sample(c.points, prior.classes["red"], torch.Generator().manual_seed(c.seed))
    trajectories, metrics = {}, {}
    for i, method in enumerate(METHODS):
        obj = build_objective(method, prior, "blue", source=None if method == "sds" else "red", guidance_scale=c.guidance_scale)
        gen = torch.Generator().manual_seed(c.seed * 1000 + i + 1)
        x = start.clone()
        frames = [x.clone()]
        for step in range(c.steps):
            result = obj(x, step / max(1, c.steps - 1), gen, reference=start)
            x = x - c.lr[method] * result.grad
            if (step + 1) % c.record_every == 0 or step + 1 == c.steps:
                frames.append(x.clone())
        trajectories[method] = torch.stack(frames)
        metrics[method] = toy_metrics(x, start, prior)
    return ToyResult(prior, start, trajectories, metrics)


# -- the figure (Pillow only) -------------------------------------------------------------
_RED, _BLUE, _GREY, _INK = (214, 39, 40), (31, 119, 180), (200, 200, 200), (30, 30, 30)


def draw_figure(result: ToyResult, panel: int = 360) -> bytes:
    """A PNG (bytes): one panel per method with the 3-sigma circles of the source (red) and
    target (blue) components, the trajectories (grey), start (red) and end (blue) points."""
    from PIL import Image, ImageDraw

    pts = torch.cat([result.start] + [tr.reshape(-1, 2) for tr in result.trajectories.values()])
    lo = torch.quantile(pts, 0.01, dim=0).minimum(torch.tensor([-4.5, -3.5]))
    hi = torch.quantile(pts, 0.99, dim=0).maximum(torch.tensor([4.5, 3.5]))
    span = float((hi - lo).max()) * 1.1
    centre = (lo + hi) / 2
    top = 28
    img = Image.new("RGB", (panel * len(result.trajectories), panel + top), (255, 255, 255))
    draw = ImageDraw.Draw(img)

    def to_px(p: Tensor, ox: int) -> list[tuple[float, float]]:
        q = (p - centre) / span + 0.5
        return [(ox + float(a) * panel, top + (1 - float(b)) * panel) for a, b in q.reshape(-1, 2).tolist()]

    r3 = 3 * math.sqrt(COMPONENT_VARIANCE) / span * panel
    for i, (method, traj) in enumerate(result.trajectories.items()):
        ox = i * panel
        draw.rectangle([ox, top, ox + panel - 1, top + panel - 1], outline=_GREY)
        for means, colour in ((SOURCE_MEANS, _RED), (TARGET_MEANS, _BLUE)):
            for cx, cy in to_px(torch.tensor(means), ox):
                draw.ellipse([cx - r3, cy - r3, cx + r3, cy + r3], outline=colour)
        for n in range(traj.shape[1]):
            draw.line(to_px(traj[:, n], ox), fill=_GREY, width=1)
        for (x, y) in to_px(result.start, ox):
            draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=_RED)
        for (x, y) in to_px(traj[-1], ox):
            draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=_BLUE)
        m = result.metrics[method]
        label = f"{method.upper()}  in_target {m['in_target']:.2f}  diversity {m['diversity']:.2f}  displacement {m['displacement']:.2f}"
        draw.text((ox + 6, 8), label, fill=_INK)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def save_figure(result: ToyResult, path: str) -> None:
    """Write :func:`draw_figure`'s PNG to ``path`` atomically."""
    atomic_write_bytes(path, draw_figure(result))
