"""The exact denoiser of a weighted empirical distribution (a finite set of points).

For data ``p_0 = sum_i w_i delta(x - y_i)`` and the forward process
``x_t = sqrt(a) x_0 + sqrt(1 - a) eps`` (``a = abar_t``), the posterior mean is::

    E[x_0 | x_t] = sum_i softmax_i(l_i) y_i,   l_i = log w_i - ||x_t - sqrt(a) y_i||^2 / (2 (1 - a))

and the MMSE noise prediction is ``eps = (x_t - sqrt(a) E[x_0 | x_t]) / sqrt(1 - a)``.

Computation: the points are stored centred on their mean ``c`` (distances do not change
when ``x_t`` is shifted by ``sqrt(a) c``), and ``||x_t||^2`` is dropped since it is the
same for every ``i``::

    l_i = log w_i + (sqrt(a) <x, y_i> - a ||y_i||^2 / 2) / (1 - a),   x = x_t - sqrt(a) c

so one matrix product gives all logits of a batch, a max-subtracted softmax (logsumexp)
keeps them finite, and a second product forms the means. Several weightings (conditions)
share the first product: each (sample, weighting) pair adds its row of ``log_weights`` to
its sample's row of distances, so a sample asked for under two conditions (CFG) costs one
row.

The second product runs per weighting and reads only the points whose weight is at least
``exp(-PRUNE_GAP)`` times the largest weight of some row of that weighting: the skipped ones together weigh less than
``N exp(-40)`` (< 1e-14 for N < 10^3), far below float32 resolution, and at most noise
levels the posterior is so peaked that only a handful of points remain.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor

PRUNE_GAP = 40.0


class EmpiricalDenoiser:
    """Exact posterior means for the points ``points`` [N, D] under several weightings.

    ``points`` is stored in its dtype and on its device (float32: N * D * 4 bytes; the
    computation runs in that dtype). With ``in_place=True`` the tensor is centred in place
    and kept (no copy)."""

    def __init__(self, points: Tensor, in_place: bool = False) -> None:
        if points.dim() != 2 or points.shape[0] == 0:
            raise ValueError(f"points must be [N, D] with N >= 1, got {tuple(points.shape)}")
        self.center = points.mean(0)
        self.centered = (points if in_place and points.is_contiguous() else points.clone(memory_format=torch.contiguous_format))
        self.centered.sub_(self.center)
        self.sqnorm = (self.centered * self.centered).sum(1)

    @property
    def dtype(self) -> torch.dtype:
        return self.centered.dtype

    @property
    def device(self) -> torch.device:
        return self.centered.device

    @property
    def num_points(self) -> int:
        return int(self.centered.shape[0])

    def points(self, index: Tensor | None = None) -> Tensor:
        """The points (all, or rows ``index``) [K, D]."""
        y = self.centered if index is None else self.centered[index]
        return y + self.center

    def posterior_mean(self, x_t: Tensor, abar: Tensor, log_weights: Tensor, rows: Tensor | None = None, samples: Tensor | None = None) -> Tensor:
        """E[x_0 | x_t] for a batch of (sample, weighting) pairs.

        ``x_t``: [U, D] distinct samples; ``abar``: [U] in (0, 1); ``log_weights``: [G, N],
        row g the (unnormalised) log prior weights of weighting g, ``-inf`` for excluded
        points (each row must keep at least one point). Pair m asks for sample
        ``samples[m]`` under weighting ``rows[m]`` (``samples`` default: 0..U-1, ``rows``
        default: all 0), so a sample wanted under several weightings (CFG's two branches)
        costs one distance computation. Everything in this denoiser's dtype and on its
        device. Returns [M, D]."""
        u = x_t.shape[0]
        if samples is None:
            samples = torch.arange(u, device=x_t.device)
        if rows is None:
            rows = torch.zeros(samples.shape[0], dtype=torch.long, device=x_t.device)
        support = torch.isfinite(log_weights).any(0)
        if bool(support.all()):
            y, sq, lw = self.centered, self.sqnorm, log_weights
        else:  # only the points some weighting keeps: fewer rows to read
            index = support.nonzero().squeeze(1)
            y, sq, lw = self.centered[index], self.sqnorm[index], log_weights[:, index]
        a = abar.view(-1, 1)
        sa = a.sqrt()
        base = (sa * ((x_t - sa * self.center) @ y.T) - 0.5 * a * sq) / (1 - a)  # [U, K]
        logits = base[samples] + lw[rows]  # [M, K]
        weights = torch.softmax(logits, dim=1)
        out = torch.empty((samples.shape[0], y.shape[1]), dtype=y.dtype, device=y.device)
        for g in torch.unique(rows).tolist():
            sel = (rows == g).nonzero().squeeze(1)
            out[sel] = self._mean(weights[sel], logits[sel], y)
        return out + self.center

    @staticmethod
    def _mean(weights: Tensor, logits: Tensor, y: Tensor) -> Tensor:
        """weights [m, K] @ y [K, D], reading only the points some row weighs at least
        ``exp(-PRUNE_GAP)`` times its largest weight."""
        keep = (logits >= logits.max(1, keepdim=True).values - PRUNE_GAP).any(0)
        if int(keep.sum()) < y.shape[0] // 2:
            index = keep.nonzero().squeeze(1)
            return weights[:, index] @ y[index]
        return weights @ y

    def noise(self, x_t: Tensor, abar: Tensor, log_weights: Tensor, rows: Tensor | None = None, samples: Tensor | None = None) -> Tensor:
        """The MMSE noise prediction eps [M, D] (arguments as in :meth:`posterior_mean`)."""
        x0 = self.posterior_mean(x_t, abar, log_weights, rows, samples)
        if samples is not None:
            x_t, abar = x_t[samples], abar[samples]
        a = abar.view(-1, 1)
        return (x_t - a.sqrt() * x0) / (1 - a).sqrt()
