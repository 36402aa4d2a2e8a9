"""The exact denoiser of an empirical distribution (vecdistill.priors.empirical): every
computation path (points gathered for peaked posteriors, one product with the transposed
copy for spread ones, both in one batch, a restricted support, 3 columns padded to 4,
without the transposed copy) against a float64 brute force of the definition."""

from __future__ import annotations

import sys

import pytest
import torch
from embedded_helpers import brute_force_eps

from vecdistill.priors.empirical import HUGE_PAGE, EmpiricalDenoiser, _serial_chunks

pytestmark = pytest.mark.usefixtures("one_thread_module")

N, D = 64, 48  # the sparse limit is N // 8 = 8 points per row
# abar: a one-hot posterior near a point, two points weighing equally at a midpoint (at lower
# noise float32 logits resolve the tie only to ~1e-4), a posterior spread over every point
LOW, MID, HIGH = 0.995, 0.95, 0.0047


@pytest.fixture(scope="module")
def points():
    return torch.rand(N, D, generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.fixture(scope="module")
def denoiser(points):
    return EmpiricalDenoiser(points)


def _noisy(points, abar, seed):
    """x_t [B, D] around points 0, 1, ... at noise levels ``abar`` [B]."""
    g = torch.Generator().manual_seed(seed)
    a = torch.tensor(abar).view(-1, 1)
    x0 = points[: len(abar)]
    return a.sqrt() * x0 + (1 - a).sqrt() * torch.randn(x0.shape, generator=g), torch.tensor(abar)


def _samples(points, kinds, seed=0):
    """x_t [B, D] and abar [B] by kind: "one" (at low noise near point 0: one point weighs),
    "two" (the midpoint of points 0 and 1: two weigh equally), "spread" (high noise: every
    point weighs)."""
    g = torch.Generator().manual_seed(seed)
    xs, abar = [], []
    for kind in kinds:
        a = {"one": LOW, "two": MID, "spread": HIGH}[kind]
        x0 = points[0] if kind != "two" else (points[0] + points[1]) / 2
        noise = torch.randn(D, generator=g) if kind != "two" else torch.zeros(D)
        xs.append(a**0.5 * x0 + (1 - a) ** 0.5 * noise)
        abar.append(a)
    return torch.stack(xs), torch.tensor(abar)


def _check(denoiser, points, log_w, x_t, abar, rows=None, samples=None):
    eps = denoiser.noise(x_t, abar, log_w, rows, samples)
    rows = torch.zeros(x_t.shape[0], dtype=torch.long) if rows is None else rows
    samples = torch.arange(x_t.shape[0]) if samples is None else samples
    for m in range(eps.shape[0]):
        s = samples[m]
        ref = brute_force_eps(points, log_w[rows[m]], x_t[s:s + 1], abar[s:s + 1])
        torch.testing.assert_close(eps[m:m + 1].double(), ref, atol=2e-4, rtol=1e-4)
    mean = denoiser.posterior_mean(x_t, abar, log_w, rows, samples)
    a = abar[samples].view(-1, 1)
    torch.testing.assert_close(mean, (x_t[samples] - (1 - a).sqrt() * eps) / a.sqrt(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("kinds", "dense_rows"), [
    (["one"], 0), (["spread"], 1), (["one", "two", "two", "one"], 0), (["spread"] * 4, 4),
    (["spread"] * 3, 3),  # 3 columns, padded to 4
    (["one", "spread", "two", "spread"], 4),  # up to 4 columns cost the same
    (["two", "spread", "one"], 1),  # one spread row stays alone (w @ Y), the others' 2 points gathered
])
def test_every_path_matches_float64_brute_force(denoiser, points, monkeypatch, kinds, dense_rows):
    """Peaked rows gather their points, spread rows share the dense product with the
    transposed copy, which in a batch of up to 4 the peaked rows join (B = 1, 3, 4)."""
    seen = []
    dense = denoiser._dense
    monkeypatch.setattr(denoiser, "_dense", lambda weights: seen.append(weights.shape[0]) or dense(weights))
    x_t, a = _samples(points, kinds, seed=len(kinds))
    _check(denoiser, points, torch.zeros(1, N), x_t, a)
    assert sum(seen) == 2 * dense_rows  # (noise and posterior_mean each call it once)


@pytest.mark.parametrize("matched", [[0, 5], [0, 5, 9]])
def test_cfg_pairs_share_one_distance_row(denoiser, points, monkeypatch, matched):
    """Two weightings (all points; two or three of them, unequal) for the same samples, as
    CFG asks: 8 rows, the 2 spread unconditional ones take the dense product, joined (up
    to 4 columns, at no extra cost) by the 2 sparse rows that keep the most points; the 4
    others (peaked, or restricted to a few points) are gathered apart."""
    seen, kept_counts = [], []
    dense = denoiser._dense
    monkeypatch.setattr(denoiser, "_dense", lambda weights: seen.append(weights.shape[0]) or kept_counts.append(sorted((weights != 0).sum(1).tolist())) or dense(weights))
    cond = torch.full((N,), float("-inf"))
    cond[matched] = torch.tensor([0.7, 0.2, 0.1][: len(matched)]).log()
    log_w = torch.stack([torch.zeros(N), cond])
    x_t, a = _samples(points, ["one", "spread", "two", "spread"], seed=7)
    rows = torch.tensor([0] * 4 + [1] * 4)
    samples = torch.arange(4).repeat(2)
    _check(denoiser, points, log_w, x_t, a, rows, samples)
    assert seen == [4, 4]  # (noise and posterior_mean)
    below = denoiser._posterior(x_t, a, log_w, rows, samples)[2]
    counts = sorted((below >= -40).sum(1).tolist())  # points kept by each of the 8 rows
    assert kept_counts[0] == counts[-4:] and counts[-3] <= denoiser._sparse_limit < counts[-2]
    x_t, a = _samples(points, ["one"], seed=8)  # a batch of 1
    _check(denoiser, points, log_w, x_t, a, torch.tensor([0, 1]), torch.tensor([0, 0]))
    seen.clear()
    x_t, a = _samples(points, ["spread"], seed=9)  # a batch of 1 at high noise: the spread
    _check(denoiser, points, log_w, x_t, a, torch.tensor([0, 1]), torch.tensor([0, 0]))
    assert seen == [1, 1]  # unconditional row alone in the dense product, the other gathered


@pytest.mark.parametrize("support", [None, 40])
def test_a_single_spread_row_reads_the_points_not_the_transposed_copy(points, monkeypatch, support):
    """One row in the dense product (a batch of 1 at high noise, all points or a support
    too large to gather) is ``w @ Y`` on the points themselves, not a product with the
    transposed copy; two rows use the transposed copy. Both match float64."""
    import vecdistill.priors.empirical as empirical

    den = EmpiricalDenoiser(points)
    bigs = []
    thin = empirical._thin_product
    monkeypatch.setattr(empirical, "_thin_product", lambda big, t: bigs.append(big.shape) or thin(big, t))
    log_w = torch.zeros(1, N)
    if support is not None:
        log_w = torch.full((1, N), float("-inf"))
        log_w[0, torch.randperm(N, generator=torch.Generator().manual_seed(support))[:support]] = 0.0
    x_t, a = _samples(points, ["spread"], seed=21)
    _check(den, points, log_w, x_t, a)
    assert (D, N) not in bigs and bigs  # (the distances still use _thin_product)
    bigs.clear()
    x_t, a = _samples(points, ["spread", "spread"], seed=22)
    _check(den, points, log_w, x_t, a)
    assert (D, N) in bigs


@pytest.mark.parametrize("kept", [3, 40])
def test_restricted_support(denoiser, points, kept):
    """A weighting that excludes points: few kept (only those are read) or many (all are
    read, the excluded ones weigh nothing)."""
    log_w = torch.full((1, N), float("-inf"))
    log_w[0, torch.randperm(N, generator=torch.Generator().manual_seed(kept))[:kept]] = 0.0
    x_t, a = _noisy(points, [LOW, HIGH, 0.3, 0.05], seed=kept)
    _check(denoiser, points, log_w, x_t, a)


def test_without_transposed_copy_is_the_same(points):
    plain = EmpiricalDenoiser(points, transposed=False)
    fast = EmpiricalDenoiser(points)
    assert plain.centered_t is None and fast.centered_t.shape == (D, N)
    assert fast.nbytes == 2 * plain.nbytes == 2 * N * D * 4
    x_t, a = _noisy(points, [LOW, HIGH, 0.02, 0.5], seed=11)
    log_w = torch.zeros(1, N)
    _check(plain, points, log_w, x_t, a)
    torch.testing.assert_close(plain.noise(x_t, a, log_w), fast.noise(x_t, a, log_w), atol=1e-5, rtol=1e-5)


def test_float64_points_are_exact(points):
    den = EmpiricalDenoiser(points.double())
    x_t, a = _noisy(points.double(), [LOW, HIGH, 0.3], seed=13)
    eps = den.noise(x_t, a.double(), torch.zeros(1, N, dtype=torch.float64))
    ref = brute_force_eps(points, torch.zeros(N), x_t, a)
    torch.testing.assert_close(eps, ref, atol=1e-10, rtol=1e-10)


def test_several_threads_run_the_elementwise_steps_in_row_chunks():
    """With more than one torch thread, a batch over 32768 elements is shifted and scaled in
    row chunks (one thread each); the result is the same."""
    wide = torch.rand(32, 16384, generator=torch.Generator().manual_seed(3)) * 2 - 1
    den = EmpiricalDenoiser(wide)
    x_t, a = _noisy(wide, [LOW, HIGH, 0.5, 0.05], seed=17)
    log_w = torch.zeros(1, 32)
    single = den.noise(x_t, a, log_w)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert len(_serial_chunks(x_t)) == 2
        several = den.noise(x_t, a, log_w)
    finally:
        torch.set_num_threads(before)
    torch.testing.assert_close(several, single, atol=1e-5, rtol=1e-5)
    _check(den, wide, log_w, x_t, a)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="huge pages are advised on Linux only")
def test_large_matrices_are_aligned_for_huge_pages():
    """Both copies of a matrix over 2 MiB start on a 2 MiB boundary (advised as transparent
    huge pages: fewer TLB misses while streaming it) and hold the centred points."""
    big = torch.rand(40, 16384, generator=torch.Generator().manual_seed(5))  # 2.5 MiB
    den = EmpiricalDenoiser(big)
    assert den.centered.data_ptr() % HUGE_PAGE == 0 and den.centered_t.data_ptr() % HUGE_PAGE == 0
    torch.testing.assert_close(den.centered, big - big.mean(0))
    torch.testing.assert_close(den.centered_t, den.centered.T)


def test_pairs_given_by_samples_or_rows_alone_weigh_every_point_equally(denoiser, points):
    # the defaults of the other two (rows 0, samples 0..U-1, log weights all 0) fill in
    x_t, a = _noisy(points, [LOW, HIGH, 0.3], seed=12)
    plain = denoiser.noise(x_t, a)
    samples = torch.tensor([2, 0, 0])
    torch.testing.assert_close(denoiser.noise(x_t, a, None, samples=samples), plain[samples])
    torch.testing.assert_close(denoiser.noise(x_t, a, None, rows=torch.zeros(3, dtype=torch.long)), plain)
