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

Speed (for a small batch the products are all that counts: each streams the N x D matrix).
Both run in the orientation in which BLAS reads the big matrix along its rows, contiguous
in the summed dimension: the distances as ``Y [N, D] @ x^T`` (for a batch of 4 on CPU with
MKL about twice as fast as ``x @ Y^T``) and the means as ``Y^T [D, N] @ w^T`` from a
transposed copy of the points kept for that purpose (2-3x faster than ``w @ Y``;
``transposed=False`` saves its memory and reads ``Y`` instead), except for a single row,
whose matrix-vector product ``w @ Y`` is faster than with the transposed copy. A row of the mean reads only
the points whose weight is at least ``exp(-PRUNE_GAP)`` times its largest: the skipped ones
together weigh less than ``N exp(-40)`` (5e-15 for N = 1252), far below float32 resolution,
and at all but high noise the posterior is so peaked that a handful of points remain. Rows
keeping few points gather them (``w[:, kept] @ Y[kept]``, added in place into ``x`` for
eps); rows keeping many (high noise) share one product with the transposed copy. Nothing is
approximated: every path computes the formula above in the points' dtype.
"""

from __future__ import annotations

import ctypes
import sys

import torch

from ..runtime import libc_function

Tensor = torch.Tensor

PRUNE_GAP = 40.0
# Rows of the mean whose kept points number more than N / SPARSE_FRACTION together read the
# whole transposed matrix instead of gathering theirs: on the 2-core build machine (MKL, 2
# threads) gathering 128 of 1252 rows and multiplying took 2.6 ms, 256 rows 5.6 ms, the dense
# product 4.5 ms. The same limit decides whether the first product reads only the points a
# restricted weighting keeps.
SPARSE_FRACTION = 8


class EmpiricalDenoiser:
    """Exact posterior means for the points ``points`` [N, D] under several weightings.

    ``points`` is stored in its dtype and on its device, centred (``centered`` [N, D]), with
    a transposed copy ``centered_t`` [D, N] unless ``transposed=False``; the computation runs
    in that dtype. Memory: N * D * itemsize bytes per copy (float32, 1252 x 12288: 58.7 MiB,
    117.4 MiB with the transposed copy), plus up to 2 MiB each for the alignment to huge
    pages (on Linux CPU; see :func:`_huge_page_empty`)."""

    def __init__(self, points: Tensor, transposed: bool = True) -> None:
        if points.dim() != 2 or points.shape[0] == 0:
            raise ValueError(f"points must be [N, D] with N >= 1, got {tuple(points.shape)}")
        self.center = points.mean(0)
        self.centered = torch.sub(points, self.center, out=_huge_page_empty(points.shape, points.dtype, points.device))
        self._neg_half_sqnorm = -0.5 * (self.centered * self.centered).sum(1)
        self.centered_t = None
        if transposed:
            self.centered_t = _huge_page_empty(self.centered.shape[::-1], points.dtype, points.device).copy_(self.centered.T)

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

    def posterior_mean(self, x_t: Tensor, abar: Tensor, log_weights: Tensor | None = None, rows: Tensor | None = None, samples: Tensor | None = None) -> Tensor:
        """E[x_0 | x_t] for a batch of (sample, weighting) pairs.

        ``x_t``: [U, D] distinct samples; ``abar``: [U] in (0, 1); ``log_weights``: [G, N],
        row g the (unnormalised) log prior weights of weighting g, ``-inf`` for excluded
        points (each row must keep at least one point), or None for one weighting that
        weighs every point equally. Pair m asks for sample ``samples[m]`` under weighting
        ``rows[m]`` (``samples`` default: 0..U-1, ``rows`` default: all 0), so a sample
        wanted under several weightings (CFG's two branches) costs one distance
        computation. Everything in this denoiser's dtype and on its device. Returns [M, D]."""
        _, weights, below, index, _ = self._posterior(x_t, abar, log_weights, rows, samples)
        return self._add_mean(self.center.repeat(weights.shape[0], 1), weights, below, index)

    def noise(self, x_t: Tensor, abar: Tensor, log_weights: Tensor | None = None, rows: Tensor | None = None, samples: Tensor | None = None) -> Tensor:
        """The MMSE noise prediction eps [M, D] (arguments as in :meth:`posterior_mean`)."""
        shifted, weights, below, index, a = self._posterior(x_t, abar, log_weights, rows, samples)
        # eps = (x_t - sqrt(a) (c + sum_i w_i y_i)) / sqrt(1 - a) = (shifted - sqrt(a) sum_i w_i y_i) / sqrt(1 - a)
        eps = self._add_mean(shifted, weights * -a.sqrt(), below, index)
        inv_s = (1 - a).rsqrt()
        for rows_ in _serial_chunks(eps):
            eps[rows_].mul_(inv_s[rows_])
        return eps

    def _posterior(self, x_t: Tensor, abar: Tensor, log_weights: Tensor | None, rows: Tensor | None, samples: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor]:
        """The posterior weights of every pair m: ``x_t[s_m] - sqrt(a) c`` [M, D] (``s_m =
        samples[m]``), the softmax weights [M, K] and their logits minus each row's largest
        [M, K] (the log of each weight over the row's largest weight) over the points
        ``index`` (global rows, None for all N) and ``a`` [M, 1]."""
        if rows is not None or samples is not None:  # explicit pairs: fill in the other defaults
            if log_weights is None:
                log_weights = torch.zeros((1, self.num_points), dtype=self.dtype, device=self.device)
            if samples is None:
                samples = torch.arange(x_t.shape[0], device=x_t.device)
            if rows is None:
                rows = torch.zeros(samples.shape[0], dtype=torch.long, device=x_t.device)
        # otherwise pair m is sample m under weighting 0

        index, lw, neg_half_sq = None, log_weights, self._neg_half_sqnorm
        if log_weights is not None:
            support = torch.isfinite(log_weights).any(0)
            if int(support.sum()) <= self._sparse_limit:  # few points weighted: read only those
                index = support.nonzero().squeeze(1)
                lw, neg_half_sq = log_weights[:, index], neg_half_sq[index]
            # (otherwise excluded points get logits -inf below, hence weight 0)

        a = abar.view(-1, 1)
        sa = a.sqrt()
        shifted = torch.empty_like(x_t)  # x_t - sqrt(a) c, [U, D]
        for rows_ in _serial_chunks(x_t):
            torch.addcmul(x_t[rows_], sa[rows_], self.center, value=-1, out=shifted[rows_])
        dots = _thin_product(self.centered if index is None else self.centered.index_select(0, index), shifted)  # [K, U]
        inv = 1 / (1 - a)
        logits = torch.addcmul((a * inv) * neg_half_sq, dots.T, sa * inv)  # [U, K]
        if rows is not None:
            logits = logits[samples] + lw[rows]  # [M, K]
            shifted, a = shifted[samples], a[samples]
        elif lw is not None:
            logits = logits + lw[0]
        below = logits - logits.amax(1, keepdim=True)  # <= 0: log of weight / largest weight
        return shifted, torch.softmax(logits, dim=1), below, index, a

    @property
    def _sparse_limit(self) -> int:
        return max(1, self.num_points // SPARSE_FRACTION)

    def _add_mean(self, out: Tensor, weights: Tensor, below: Tensor, index: Tensor | None) -> Tensor:
        """``out += weights @ Y`` in place and returns ``out`` ([M, D], this denoiser's; Y the
        centred points, rows ``index``, None for all N; ``weights`` [M, K] scaled as the
        caller needs, ``below`` [M, K] the log of each softmax weight over its row's largest).
        Each row reads only the points it weighs at least ``exp(-PRUNE_GAP)`` times its
        largest weight: when they are few (together, over all rows: the usual case) they
        are gathered (``w[:, kept] @ Y[kept]``), otherwise the rows that keep many share
        one product with every point (the transposed copy; a single row: ``w @ Y``), which
        the others join, those keeping the most points first, unless gathering theirs apart
        is cheaper."""
        m = weights.shape[0]
        limit = self._sparse_limit
        kept = below >= -PRUNE_GAP  # [M, K]
        # Pruned weights (a row's points not kept, also where another row keeps them) are
        # zeroed: some are float32 denormals, and every multiplication by a denormal costs the
        # CPU a microcode assist (measured: the dense product took 11 ms instead of 8 at
        # t = 900, 1 thread).
        weights = weights.masked_fill(~kept, 0)
        chosen = kept.any(0).nonzero().squeeze(1)
        if chosen.shape[0] <= limit:  # peaked posteriors (all but high noise): one gather
            return out.addmm_(weights[:, chosen], self.centered.index_select(0, chosen if index is None else index[chosen]))
        # from here index is None: a restricted support holds at most ``limit`` points
        counts = kept.sum(1)
        sparse = counts <= limit
        n_sparse = int(sparse.sum())
        # Columns 2 to 4 cost the dense product about the same, one column ~0.7 of it (a
        # matrix-vector product with the points, see _dense); each column beyond 4 adds ~1/6
        # of it, gathering k points ~k / (1.5 limit) of it (measured: CPU, N = 1252). So a
        # single spread row (CFG with a batch of 1) stays alone when the sparse rows' points
        # are few (at most limit / 2); otherwise the dense product first takes, up to 4
        # columns, the sparse rows keeping the most points (in a CFG batch of 4 at t = 900 an
        # unconditional row keeping ~150 icons, whose gather cost 1.4 ms on 1 thread), and
        # the remaining sparse rows are gathered apart only when they would add columns
        # beyond 4 and their points are few enough.
        chosen = kept[sparse].any(0).nonzero().squeeze(1)
        # a single spread row with few sparse points: gather the sparse rows apart, and the
        # spread one is a matrix-vector product; otherwise fill the dense product's columns
        if not (m - n_sparse == 1 and chosen.shape[0] * 2 <= limit):
            room = min(n_sparse, 4 - (m - n_sparse))
            if room > 0:
                sparse[torch.where(sparse, counts, -1).topk(room).indices] = False
                n_sparse -= room
            extra = m - max(4, m - n_sparse)
            if n_sparse and extra > 0:
                chosen = kept[sparse].any(0).nonzero().squeeze(1)
                if chosen.shape[0] * 4 > limit * extra:
                    n_sparse = 0
            else:
                n_sparse = 0
        if n_sparse == 0:  # high noise: the posteriors spread over many points
            return out.add_(self._dense(weights).T)
        which, dense = sparse.nonzero().squeeze(1), (~sparse).nonzero().squeeze(1)
        out[which] = torch.addmm(out[which], weights[which][:, chosen], self.centered.index_select(0, chosen))
        out[dense] = out[dense] + self._dense(weights[dense]).T
        return out

    def _dense(self, weights: Tensor) -> Tensor:
        """(``weights`` [m, K] @ centred points [K, D]).T, reading every point: [D, m].

        A single row (m = 1: a batch of 1, or a CFG pair whose conditional row is gathered
        apart) reads ``Y`` itself (``w @ Y``, a matrix-vector product): on the 2-core build
        machine (MKL, 1252 x 12288 float32) 3.0-3.4 ms against 4.2-4.7 ms for the same
        product with the transposed copy in ad-hoc timings; for 2 or more rows the transposed
        copy is faster (see the module docstring). ``weights`` cover every point."""
        if self.centered_t is None or weights.shape[0] == 1:
            return torch.mm(weights, self.centered).T
        return _thin_product(self.centered_t, weights)


def _thin_product(big: Tensor, thin: Tensor) -> Tensor:
    """``big`` [R, C] @ ``thin``.T ([m, C], m small) -> [R, m], in the orientation that reads
    ``big`` along its rows (on CPU with MKL about twice as fast for m = 4 as
    ``thin @ big.T``). m = 3 is padded to 4: MKL's kernel for 3 columns is slower than the
    one for 4 (measured: 6.1 against 4.4 ms for 1252 x 12288, 2 threads)."""
    if thin.shape[0] == 3 and big.device.type == "cpu":
        return torch.mm(big, torch.cat([thin, thin.new_zeros(1, thin.shape[1])]).T)[:, :3]
    return torch.mm(big, thin.T)



def _serial_chunks(t: Tensor) -> list[slice]:
    """Row slices of ``t`` [R, C] small enough that torch runs an elementwise op on them on
    one thread (at most its parallel grain, 32768 elements), when torch uses several: for a
    batch of 4 at 64^2 (49152 elements) waking the second thread for each op cost more than
    it saved (measured on 2 cores: ~0.25 ms of 6 per prediction)."""
    if t.device.type != "cpu" or t.numel() <= 32768 or torch.get_num_threads() == 1:
        return [slice(None)]
    step = max(1, 32768 // t.shape[1])
    return [slice(i, i + step) for i in range(0, t.shape[0], step)]


HUGE_PAGE = 2 << 20
_MADV_HUGEPAGE = 14


def _huge_page_empty(shape: tuple[int, ...] | torch.Size, dtype: torch.dtype, device: torch.device) -> Tensor:
    """An uninitialised contiguous tensor; on Linux CPU over 2 MiB, aligned to 2 MiB and
    advised to the kernel as transparent huge pages (``madvise(MADV_HUGEPAGE)``, which takes
    effect where the system's THP setting is ``always`` or ``madvise``) before its pages
    are touched. Streaming the icon matrix then misses the TLB far less: on the 2-core build
    machine (a VM) a product with it took 18 % less time. Anywhere else, or if the call
    fails, a plain ``torch.empty``."""
    numel = 1
    for n in shape:
        numel *= int(n)
    itemsize = torch.empty((), dtype=dtype).element_size()
    if torch.device(device).type != "cpu" or not sys.platform.startswith("linux") or numel * itemsize < HUGE_PAGE:
        return torch.empty(tuple(shape), dtype=dtype, device=device)
    pad = HUGE_PAGE // itemsize
    flat = torch.empty(numel + pad, dtype=dtype)
    start = (-flat.data_ptr() % HUGE_PAGE) // itemsize
    out = flat[start:start + numel]
    madvise = libc_function("madvise")
    if madvise is not None:  # (the kernel rounds the length up to its page size, within the allocation)
        madvise(ctypes.c_void_p(out.data_ptr()), ctypes.c_size_t(numel * itemsize), _MADV_HUGEPAGE)
    return out.view(tuple(shape))  # without madvise: small pages, same results
