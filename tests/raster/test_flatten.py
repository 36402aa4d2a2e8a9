"""Flattening: every evaluation scheme gives the same vertices, on the curve, with chords
within the tolerance."""

from __future__ import annotations

import torch

from vecdistill.raster.flatten import _bernstein, _dense_cubics, _horner, _weigh, flatten
from vecdistill.svg.scene import Path


def _cubic(ctrl: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """De Casteljau: points [T, 2] of one cubic ``ctrl`` [4, 2] at ``t`` [T]."""
    p = ctrl.unsqueeze(0).expand(t.shape[0], 4, 2)
    t = t.view(-1, 1, 1)
    while p.shape[1] > 1:
        p = (1 - t) * p[:, :-1] + t * p[:, 1:]
    return p[:, 0]


def test_the_three_evaluation_schemes_agree_with_de_casteljau():
    g = torch.Generator().manual_seed(3)
    ctrl = torch.rand(9, 4, 2, generator=g, dtype=torch.float64) * 40
    counts = torch.randint(1, 12, (9,), generator=g)
    n_eval = counts + (torch.arange(9) % 3 == 0).long()  # some segments end an open subpath
    seg_rep = torch.repeat_interleave(torch.arange(9), n_eval)
    j = torch.arange(seg_rep.shape[0]) - (torch.cumsum(n_eval, 0) - n_eval)[seg_rep]
    t = j.double() / counts[seg_rep].double()
    ref = torch.cat([_cubic(ctrl[s], t[seg_rep == s]) for s in range(9)])
    assert torch.allclose(_horner(ctrl, seg_rep, t.unsqueeze(-1)), ref, atol=1e-11)
    m = int(n_eval.max())
    jj = torch.arange(m)
    pick = (jj.view(1, -1) < n_eval.view(-1, 1)).view(-1).nonzero().squeeze(-1)
    dense = _dense_cubics(ctrl, jj.view(1, -1).double() / counts.view(-1, 1).double(), pick)
    assert torch.allclose(dense, ref, atol=1e-11)
    uniform = _weigh(_bernstein(7, torch.float64, "cpu"), ctrl)
    ref7 = torch.cat([_cubic(ctrl[s], torch.arange(7, dtype=torch.float64) / 7) for s in range(9)])
    assert torch.allclose(uniform, ref7, atol=1e-11)


def _chord_error(path: Path, scale: float, tol: float) -> float:
    """Largest distance (pixels) from points of the path's curves (closed, 4 cubics) to the
    polyline ``flatten`` makes of it under a uniform ``scale`` (local units -> pixels)."""
    mats = torch.tensor([[[scale, 0.0, 0.0], [0.0, scale, 0.0]]], dtype=torch.float64)
    verts = flatten([path], [0], mats, 10_000, 10_000, tol).canvas
    a, b = verts, verts.roll(-1, 0)
    ctrl = (path.points.double() * scale)[torch.tensor([[3 * s + k for k in range(4)] for s in range(4)]) % 12]
    pts = torch.cat([_cubic(c, torch.linspace(0, 1, 1500, dtype=torch.float64)) for c in ctrl])  # [P, 2]
    d = (b - a).unsqueeze(0)  # [1, E, 2]
    u = (((pts.unsqueeze(1) - a) * d).sum(-1) / (d * d).sum(-1).clamp_min(1e-30)).clamp(0, 1)  # [P, E]
    dist = (pts.unsqueeze(1) - (a + u.unsqueeze(-1) * d)).norm(dim=-1)
    return float(dist.min(1).values.max())


def test_chords_stay_within_the_tolerance():
    g = torch.Generator().manual_seed(8)
    for radius, jitter in ((1.0, 0.0), (1.0, 0.6), (0.05, 0.3)):
        p = Path.circle((2 * radius, 2 * radius), radius)  # inside the canvas (outside: one chord)
        p.points = p.points.double() + jitter * radius * (torch.rand(p.points.shape, generator=g, dtype=torch.float64) - 0.5)
        for scale, tol in ((30.0, 1 / 256), (400.0, 1 / 64)):
            err = _chord_error(p, scale, tol)
            assert err <= tol * 1.0001, (radius, jitter, scale, err, tol)


def test_dense_cubics_backward_passes_gradcheck():
    """The dense block's analytic backward (one autograd node for the whole evaluation)
    against gradcheck: segments of different counts, some vertices left out of the block."""
    g = torch.Generator().manual_seed(5)
    ctrl = (torch.rand(5, 4, 2, generator=g, dtype=torch.float64) * 10).requires_grad_(True)
    counts = torch.tensor([3, 1, 4, 2, 4])
    m = int(counts.max()) + 1
    jj = torch.arange(m)
    pick = (jj.view(1, -1) <= counts.view(-1, 1)).view(-1).nonzero().squeeze(-1)  # (j = count: the end point too)
    t = jj.view(1, -1).double() / counts.view(-1, 1).double()
    assert torch.autograd.gradcheck(lambda c: _dense_cubics(c, t, pick), (ctrl,), eps=1e-6, atol=1e-8)
