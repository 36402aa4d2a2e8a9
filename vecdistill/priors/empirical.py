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
row. Then ``eps = (x - sqrt(a) sum_i softmax_i y_i) / sqrt(1 - a)`` reuses the shifted ``x``.

Speed (the products are all that counts for a small batch: they stream the N x D matrix).
Both products run in the orientation in which BLAS reads the big matrix along its rows,
contiguous in the summed dimension: the distances as ``Y [N, D] @ x^T`` (with a batch of 4,
about twice as fast on CPU as ``x @ Y^T``) and the means as ``Y^T [D, N] @ softmax^T`` from
a transposed copy of the points kept for that purpose (2-3x faster than ``softmax @ Y``;
``transposed=False`` saves its memory). A row of the mean reads only the points whose weight
is at least ``exp(-PRUNE_GAP)`` times its largest: the skipped ones together weigh less than
``N exp(-40)`` (< 1e-14 for N < 10^3), far below float32 resolution, and at most noise levels
the posterior is so peaked that a handful of points remain; those rows gather their points
(``softmax[:, kept] @ Y[kept]``), the other rows (high noise) share one product with the
transposed copy. Nothing is approximated: every path computes the formula above in the
points' dtype.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor

PRUNE_GAP = 40.0
# A row of the mean whose kept points number more than N / SPARSE_FRACTION (or a set of such
# rows whose union does) reads the whole transposed matrix instead: gathering k rows and
# multiplying costs about as much as the dense product once k > N / 8 (measured on CPU,
# benchmarks/embedded_prior_bench.py).
SPARSE_FRACTION = 8


class EmpiricalDenoiser:
    """Exact posterior means for the points ``points`` [N, D] under several weightings.

    ``points`` is stored in its dtype and on its device, centred (``centered`` [N, D]), with
    a transposed copy ``centered_t`` [D, N] unless ``transposed=False``; the computation runs
    in that dtype. Memory: N * D * itemsize bytes per copy (float32, 1252 x 12288: 58.7 MiB,
    117.4 MiB with the transposed copy). With ``in_place=True`` the tensor ``points`` is
    centred in place and kept (no copy for ``centered``)."""

    def __init__(self, points: Tensor, in_place: bool = False, transposed: bool = True) -> None:
        if points.dim() != 2 or points.shape[0] == 0:
            raise ValueError(f"points must be [N, D] with N >= 1, got {tuple(points.shape)}")
        self.center = points.mean(0)
        self.centered = (points if in_place and points.is_contiguous() else points.clone(memory_format=torch.contiguous_format))
        self.centered.sub_(self.center)
        self.sqnorm = (self.centered * self.centered).sum(1)
        self._neg_half_sqnorm = -0.5 * self.sqnorm
        self.centered_t = self.centered.T.contiguous() if transposed else None

    @property
    def dtype(self) -> torch.dtype:
        return self.centered.dtype

    @property
    def device(self) -> torch.device:
        return self.centered.device

    @property
    def num_points(self) -> int:
        return int(self.centered.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the point matrices (``centered`` and its transposed copy)."""
        copies = 1 if self.centered_t is None else 2
        return copies * self.centered.numel() * self.centered.element_size()

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
        _, mean, _ = self._centered_mean(x_t, abar, log_weights, rows, samples)
        return mean + self.center

    def noise(self, x_t: Tensor, abar: Tensor, log_weights: Tensor, rows: Tensor | None = None, samples: Tensor | None = None) -> Tensor:
        """The MMSE noise prediction eps [M, D] (arguments as in :meth:`posterior_mean`)."""
        shifted, mean, a = self._centered_mean(x_t, abar, log_weights, rows, samples)
        # x_t - sqrt(a) (mean + c) = shifted - sqrt(a) mean
        return torch.addcmul(shifted, mean, a.sqrt(), value=-1).div_((1 - a).sqrt())

    def _centered_mean(self, x_t: Tensor, abar: Tensor, log_weights: Tensor, rows: Tensor | None, samples: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """For every pair m: ``x_t[s_m] - sqrt(a) c`` [M, D], the centred posterior mean
        ``sum_i softmax_i y_i`` [M, D] and ``a`` [M, 1] (``s_m = samples[m]``)."""
        if samples is None and rows is not None:
            samples = torch.arange(x_t.shape[0], device=x_t.device)
        if rows is None and samples is not None:
            rows = torch.zeros(samples.shape[0], dtype=torch.long, device=x_t.device)
        # rows is None (and samples is None): pair m is sample m under weighting 0

        index, lw, neg_half_sq = None, log_weights, self._neg_half_sqnorm
        support = torch.isfinite(log_weights).any(0)
        if int(support.sum()) <= self._sparse_limit:  # few points weighted: read only those
            index = support.nonzero().squeeze(1)
            lw, neg_half_sq = log_weights[:, index], neg_half_sq[index]
        # (otherwise excluded points get logits -inf below, hence weight 0)

        a = abar.view(-1, 1)
        sa = a.sqrt()
        shifted = torch.addcmul(x_t, sa, self.center, value=-1)  # [U, D]
        dots = _thin_product(self.centered if index is None else self.centered[index], shifted)  # [K, U]
        inv = 1 / (1 - a)
        base = torch.addcmul((a * inv) * neg_half_sq, dots.T, sa * inv)  # [U, K]
        if rows is None:
            logits = base + lw[0]
        else:
            logits = base[samples] + lw[rows]  # [M, K]
            shifted, a = shifted[samples], a[samples]
        weights = torch.softmax(logits, dim=1)
        return shifted, self._weighted_sum(weights, logits, index), a

    @property
    def _sparse_limit(self) -> int:
        return max(1, self.num_points // SPARSE_FRACTION)

    def _weighted_sum(self, weights: Tensor, logits: Tensor, index: Tensor | None) -> Tensor:
        """``weights`` [M, K] @ centred points [K, D] (``index``: the global rows of the K
        points, None for all N), each row reading only the points it weighs at least
        ``exp(-PRUNE_GAP)`` times its largest weight: rows that keep few points gather them
        (``softmax[:, kept] @ Y[kept]``), the others share one product with every point."""
        m = weights.shape[0]
        limit = self._sparse_limit
        kept = logits >= logits.amax(1, keepdim=True) - PRUNE_GAP  # [M, K]
        sparse = kept.sum(1) <= limit
        n_sparse = int(sparse.sum())
        if n_sparse:
            union = kept.any(0) if n_sparse == m else (kept & sparse[:, None]).any(0)
            chosen = union.nonzero().squeeze(1)
            # rows that read all points anyway: add the sparse ones to that product unless
            # theirs is cheap (a few rows gathered)
            if chosen.shape[0] > (limit if n_sparse == m else limit // 4):
                n_sparse = 0
        if n_sparse == 0:  # high noise: the posterior spreads over many points
            return self._dense(weights, index)
        points = self.centered[chosen if index is None else index[chosen]]
        if n_sparse == m:  # the usual case: every row needs a handful of points
            return torch.mm(weights[:, chosen], points)
        out = torch.empty((m, self.centered.shape[1]), dtype=weights.dtype, device=weights.device)
        which, dense = sparse.nonzero().squeeze(1), (~sparse).nonzero().squeeze(1)
        out[which] = torch.mm(weights[which][:, chosen], points)
        out[dense] = self._dense(weights[dense], index)
        return out

    def _dense(self, weights: Tensor, index: Tensor | None) -> Tensor:
        """``weights`` [m, K] @ centred points [K, D] reading every point: [m, D]."""
        if self.centered_t is None:
            return torch.mm(weights, self.centered if index is None else self.centered[index])
        if index is not None:  # zero weights for the points outside the support
            full = torch.zeros((weights.shape[0], self.num_points), dtype=weights.dtype, device=weights.device)
            full[:, index] = weights
            weights = full
        return _thin_product(self.centered_t, weights).T


def _thin_product(big: Tensor, thin: Tensor) -> Tensor:
    """``big`` [R, C] @ ``thin``.T ([m, C], m small) -> [R, m], in the orientation that reads
    ``big`` along its rows (on CPU with MKL about twice as fast for m = 4 as
    ``thin @ big.T``). m = 3 is padded to 4: MKL's kernel for 3 columns is slower than the
    one for 4 (measured: 6.1 against 4.4 ms for 1252 x 12288, 2 threads)."""
    if thin.shape[0] == 3 and big.device.type == "cpu":
        return torch.mm(big, torch.cat([thin, thin.new_zeros(1, thin.shape[1])]).T)[:, :3]
    return torch.mm(big, thin.T)
