"""The LR range test's pure numbers (lrbench.finder.suggest).

Expected values come from closed forms, hand traces written out in the comments, or curves
constructed with a known answer (reference/lr-finder.md §8, "Tests" 1, 6, 7 and 8). None comes
from running lrbench itself. Bad settings are rejected where they come in
(lrbench.finder.settings.resolve, tested in tests/test_finder.py); these functions take valid
ones and raise only ValueError, for a caller's bug.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrbench.finder.divergence import (
    NO_DIVERGENCE,
    NON_FINITE,
    RAW_ROSE,
    ROSE,
    detect_divergence,
    ema,
    raw_rise_steps,
)
from lrbench.finder.suggest import (
    METHODS,
    aggregate,
    budget_floor,
    default_window,
    hann_weights,
    knee_index,
    mean_curve,
    ramp,
    smooth_centered,
    smooth_usable,
    suggest,
)

# ---------------------------------------------------------------- ramp (§8 "Schedule")


def test_ramp_exp_exact_endpoints_and_constant_ratio():
    # Closed form: ratio (end/start)**(1/(N-1)) = (1e7)**(1/99).
    lrs = ramp(1e-6, 10.0, 100)
    assert lrs.shape == (100,)
    assert lrs[0] == 1e-6
    assert lrs[-1] == 10.0
    np.testing.assert_allclose(lrs[1:] / lrs[:-1], 1e7 ** (1 / 99), rtol=1e-12, atol=0)


def test_ramp_linear_exact_endpoints_and_constant_step():
    # Closed form: step (end - start)/(N - 1) = 0.99/99 = 0.01.
    lrs = ramp(0.01, 1.0, 100, mode="linear")
    assert lrs.shape == (100,)
    assert lrs[0] == 0.01
    assert lrs[-1] == 1.0
    np.testing.assert_allclose(np.diff(lrs), 0.01, rtol=1e-12, atol=0)


@pytest.mark.parametrize(("start", "end", "mode"), [(0.1, 3.3, "exp"), (0.2, 0.9, "linear")])
def test_ramp_endpoints_exact_where_the_formula_rounds(start, end, mode):
    # In floating point 0.1*(3.3/0.1) != 3.3 and 0.2 + (0.9 - 0.2) != 0.9: the ends are set.
    assert (start * (end / start) if mode == "exp" else start + (end - start)) != end
    lrs = ramp(start, end, 50, mode)
    assert (lrs[0], lrs[-1]) == (start, end)


def test_ramp_two_points_is_the_endpoints():
    np.testing.assert_array_equal(ramp(1e-3, 1.0, 2), [1e-3, 1.0])
    np.testing.assert_array_equal(ramp(1e-3, 1.0, 2, "linear"), [1e-3, 1.0])


def test_ramp_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        ramp(1e-3, 1.0, 10, "log")


# ---------------------------------------------------------------- EMA (§8 test 7)


def test_ema_first_value_is_first_raw_value_and_constant_stays_constant():
    assert ema(np.array([3.7, 1.0, 2.0]), 0.95)[0] == 3.7
    np.testing.assert_array_equal(ema(np.full(50, 0.25), 0.95), np.full(50, 0.25))


def test_ema_three_steps_by_hand():
    # beta = 0.9: s0 = 1; s1 = 0.9*1 + 0.1*3 = 1.2; s2 = 0.9*1.2 + 0.1*2 = 1.28.
    np.testing.assert_allclose(ema(np.array([1.0, 3.0, 2.0]), 0.9), [1.0, 1.2, 1.28], rtol=1e-15)
    # beta = 0 is the identity.
    np.testing.assert_array_equal(ema(np.array([1.0, 3.0, 2.0]), 0.0), [1.0, 3.0, 2.0])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("beta", [0.0, 0.95])
def test_ema_non_finite_propagates_from_its_index(bad, beta):
    s = ema(np.array([1.0, 2.0, bad, 1.0, -math.inf, 3.0]), beta)
    assert np.isfinite(s[:2]).all()
    assert not np.isfinite(s[2:]).any()


# ---------------------------------------------------------------- centred smoothing (§8 test 7)


def test_hann_weights_by_hand():
    # (1 + cos(pi*k/3))/2 for k = -2..2: cos(pi/3) = 1/2, cos(2pi/3) = -1/2.
    np.testing.assert_allclose(hann_weights(5), [0.25, 0.75, 1.0, 0.75, 0.25], rtol=1e-15)
    np.testing.assert_array_equal(hann_weights(1), [1.0])


def test_smooth_window_one_is_identity():
    x = np.random.default_rng(0).standard_normal(30)
    np.testing.assert_array_equal(smooth_centered(x, 1), x)


@pytest.mark.parametrize("window", [1, 3, 5, 11, 99])
def test_smooth_constant_stays_constant(window):
    np.testing.assert_array_equal(smooth_centered(np.full(20, 1.7), window), np.full(20, 1.7))


def test_smooth_by_hand_window_three():
    # Weights .5, 1, .5; the end points have reach 0 and stay as they are.
    # s1 = (.5*0 + 1*0 + .5*4)/2 = 1; s2 = (.5*0 + 4 + .5*0)/2 = 2; s3 = 1.
    got = smooth_centered(np.array([0.0, 0.0, 4.0, 0.0, 0.0]), 3)
    np.testing.assert_allclose(got, [0.0, 1.0, 2.0, 1.0, 0.0], rtol=0, atol=1e-15)


def test_smooth_reproduces_a_linear_trend_at_every_point():
    # Symmetric weights average a line to its centre value: no lag, also at the (shrunken) ends.
    x = 3.0 - 0.25 * np.arange(40)
    np.testing.assert_allclose(smooth_centered(x, 9), x, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", ["vee", "parabola", "sqrt"])
@pytest.mark.parametrize("center", [3, 20, 37])
def test_smooth_keeps_the_argmin_of_a_symmetric_dip(shape, center):
    # window 7 (h = 3), 41 points: centres h from either end and in the middle.
    d = np.abs(np.arange(41) - center).astype(float)
    x = {"vee": d, "parabola": d**2, "sqrt": np.sqrt(d)}[shape]
    s = smooth_centered(x, 7)
    assert int(np.argmin(s)) == center
    if center == 20:  # away from the ends the smoothed dip is still symmetric around it
        np.testing.assert_allclose(s[:20], s[:20:-1], rtol=1e-13)


@pytest.mark.parametrize(
    ("num_iter", "window"),
    # 0.05*N rounded half up, made odd, at least 5 (by hand)
    [(10, 5), (100, 5), (150, 9), (200, 11), (250, 13), (300, 15), (1000, 51)],
)
def test_default_window(num_iter, window):
    assert default_window(num_iter) == window


# ---------------------------------------------------------------- divergence (§8 test 8)


def test_negative_losses_with_floor_do_not_stop_early_and_a_rise_does():
    # Loss from -1 down to about -6 (a log-likelihood-like curve), small wiggle.
    t = np.arange(100)
    x = -1.0 - 5.0 * (1.0 - np.exp(-t / 10.0)) + 0.05 * np.sin(t)
    # A bare fastai ratio rule (s > 4*best) misfires on negative losses at once:
    assert x[1] > 4 * min(x[0], x[1])
    assert detect_divergence(x, loss_floor=-10.0).stop_step is None
    # With beta = 0 (s = x): best - floor = -6 - (-10) = 4, so the stop needs s > -10 + 4*4 = 6.
    y = np.concatenate([np.full(20, -1.0), np.full(20, -6.0), [-2.0, 2.0, 5.9, 6.1, 10.0]])
    got = detect_divergence(y, beta=0.0, loss_floor=-10.0)
    assert got.stop_step == 43  # the 6.1
    assert got.reason == ROSE


@pytest.mark.parametrize("beta", [0.0, 0.95])
def test_near_zero_noisy_losses_do_not_stop_while_below_start(beta):
    rng = np.random.default_rng(1)
    t = np.arange(300)
    x = np.exp(-t / 5.0) + 1e-4 * rng.standard_normal(300)  # goes slightly negative
    best = np.minimum.accumulate(x)
    assert np.any(x[10:] > 4 * best[10:])  # the plain ratio rule would stop
    got = detect_divergence(x, beta=beta)
    assert (got.stopped, got.stop_step, got.reason) == (False, None, NO_DIVERGENCE)


@pytest.mark.parametrize(
    ("bad", "where"), [(math.nan, 7), (math.inf, 0), (-math.inf, 50), (math.nan, 99)]
)
def test_first_non_finite_loss_stops_at_its_index(bad, where):
    x = np.linspace(2.0, 1.0, 100)
    x[where] = bad
    x[where + 1 :] = math.nan
    got = detect_divergence(x)
    assert (got.stopped, got.stop_step, got.reason) == (True, where, NON_FINITE)
    # also with the ratio rule switched off
    assert detect_divergence(x, div_factor=None).stop_step == where


def _doubling():
    # 1 for t < 30, then 2, 4, 8, ... (losses multiply by 2 each step)
    t = np.arange(60)
    return np.where(t < 30, 1.0, 2.0 ** (t - 29.0))


def test_clean_blow_up_stops_where_the_closed_form_ema_crosses():
    x = _doubling()
    # beta = 0: s = x, best = 1, stop at the first 2**(t-29) > 4: t = 32.
    assert detect_divergence(x, beta=0.0).stop_step == 32
    # beta = 0.95: s_t = 1 + 0.05 * sum_{j=30..t} 0.95**(t-j) * (2**(j-29) - 1) (EMA is linear,
    # seeded at 1); best stays 1, so the stop is the first t with s_t > 4.
    beta = 0.95
    s = [
        1 + (1 - beta) * sum(beta ** (t - j) * (2.0 ** (j - 29) - 1) for j in range(30, t + 1))
        for t in range(60)
    ]
    ema_stop = next(t for t in range(60) if s[t] > 4.0)
    assert ema_stop == 35
    # The raw rule (min 1, noise floor 1e-3): x_t > 4 from t = 32 (x = 8), the second such step
    # is t = 33. The EMA lags by two steps, so the raw rule stops first.
    got = detect_divergence(x, beta=beta)
    assert (got.stopped, got.stop_step, got.reason) == (True, 33, RAW_ROSE)


def test_a_single_spike_stops_the_smoothed_rule_only():
    # One step of 100 on a flat 1: s_40 = 0.95 * 1 + 0.05 * 100 = 5.95 > 4 * 1 and > s_0, so the
    # EMA rule stops there; the raw rule needs two consecutive high steps and never fires alone.
    x = np.ones(60)
    x[40] = 100.0
    assert detect_divergence(x).stop_step == 40
    assert detect_divergence(x).reason == ROSE
    assert not raw_rise_steps(x).any()
    y = x.copy()
    y[40:42] = [5.0, 5.0]  # s_40 = 1.2, s_41 = 1.39: below 4; raw: two steps > 4 x 1
    got = detect_divergence(y)
    assert (got.stop_step, got.reason) == (41, RAW_ROSE)


def test_divergence_rule_is_causal_and_can_be_switched_off():
    x = _doubling()
    stop = detect_divergence(x).stop_step
    assert detect_divergence(x[: stop + 1]).stop_step == stop
    assert detect_divergence(x[:stop]).stop_step is None
    assert detect_divergence(x, div_factor=None).stop_step is None


def test_ratio_rule_waits_for_skip_start():
    x = np.array([1.0, 10.0, 10.0, 10.0, 10.0])
    assert detect_divergence(x, beta=0.0, skip_start=3).stop_step == 3
    assert detect_divergence(x, beta=0.0, skip_start=10).stop_step is None


# ---------------------------------------------------------------- suggestions (§8 test 6)

N = 200
LRS = ramp(1e-6, 10.0, N)
X = np.log(LRS)
DX = X[1] - X[0]  # one grid step in ln(lr)
X0 = math.log(1e-3)  # inflection of the tanh: the steepest point


def _curve(x):
    # loss(x) = a - b tanh((x - x0)/s) + c exp(k (x - x1)), x = ln(lr)
    return 2.0 - np.tanh((x - X0) / 1.0) + 0.1 * np.exp(2.0 * (x - math.log(1e-2)))


def _hann_smoothed_minimiser(window):
    # The minimiser of the continuous curve smoothed by the same Hann kernel (weights
    # (1 + cos(pi k/(h+1)))/2 at offsets k*DX), located on a fine grid.
    h = window // 2
    k = np.arange(-h, h + 1)
    w = 0.5 * (1 + np.cos(np.pi * k / (h + 1)))
    fine = np.linspace(math.log(1e-4), math.log(1.0), 400_001)
    smoothed = sum(wk * _curve(fine + kk * DX) for wk, kk in zip(w, k, strict=True)) / w.sum()
    return fine[np.argmin(smoothed)]


def test_synthetic_curve_steepest_minimum_and_range():
    loss = _curve(X)
    stop = detect_divergence(loss).stop_step
    assert stop is not None  # the exp term blows up well before 10
    steep = suggest(LRS, loss, "steepest", stop_step=stop)
    assert abs(math.log(steep.lr) - X0) <= DX
    assert steep.lr == LRS[steep.index]
    low = suggest(LRS, loss, "minimum", stop_step=stop)
    assert low.lr == LRS[low.index] / 4.0  # the default divisor: Smith's max_lr / 4
    assert suggest(LRS, loss, "minimum", stop_step=stop, min_div=10.0).lr == LRS[low.index] / 10
    assert abs(X[low.index] - _hann_smoothed_minimiser(default_window(N))) <= DX
    assert not low.lower_bound_only
    rng = suggest(LRS, loss, "range", stop_step=stop)
    assert (rng.lr, rng.base_lr, rng.index) == (LRS[low.index], LRS[low.index] / 4, low.index)
    assert all(type(s.lr) is float for s in (steep, low, rng))


def test_noisy_copy_stays_within_factor_two():
    loss = _curve(X)
    noisy = loss + 0.02 * np.random.default_rng(0).standard_normal(N)
    for method in ("minimum", "steepest", "range"):
        clean = suggest(LRS, loss, method, stop_step=detect_divergence(loss).stop_step).lr
        got = suggest(LRS, noisy, method, stop_step=detect_divergence(noisy).stop_step).lr
        assert 0.5 <= got / clean <= 2.0, method


def test_linear_mode_steepest_is_against_lr():
    # loss(lr) = 2 - tanh((lr - 0.3)/0.08) + 0.01 exp(12 (lr - 0.6)) on a linear ramp: inflection 0.3.
    lrs = ramp(0.01, 1.0, 100, "linear")
    loss = 2.0 - np.tanh((lrs - 0.3) / 0.08) + 0.01 * np.exp(12.0 * (lrs - 0.6))
    got = suggest(lrs, loss, "steepest", mode="linear", stop_step=None)
    assert abs(got.lr - 0.3) <= lrs[1] - lrs[0]


def test_steepest_looks_only_left_of_the_minimum():
    # window 1, no trims: minimum 1.5 at index 4. Central differences (grid step D in ln lr):
    # index 1: (4.0-5.0)/2D = -0.5/D, 2: (2.0-4.8)/2D = -1.4/D, 3: (1.5-4.0)/2D = -1.25/D.
    # Right of the minimum, index 6: (2.5-6.0)/2D = -1.75/D is steeper but must be ignored.
    lrs = ramp(1e-4, 1.0, 10)
    losses = [5.0, 4.8, 4.0, 2.0, 1.5, 6.0, 5.9, 2.5, 3.0, 9.0]
    got = suggest(lrs, losses, "steepest", stop_step=None, window=1, skip_start=0, skip_end=0)
    assert got.index == 2


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_tail_is_cut(bad):
    loss = _curve(X)
    tail = loss.copy()
    tail[150:] = bad
    for method in METHODS:
        cut = suggest(LRS, loss, method, stop_step=150)
        got = suggest(LRS, tail, method, stop_step=None)
        assert got == cut
        assert got.lr is not None
        assert not got.lower_bound_only  # a non-finite loss is a divergence


@pytest.mark.parametrize(
    ("first_nan", "stop", "count"),
    # skip_start 10, skip_end 3: points 10 .. end-1-3
    [(14, None, 1), (200, 15, 2), (3, None, 0), (200, 0, 0)],
)
def test_too_few_points_gives_none_with_a_reason(first_nan, stop, count):
    loss = _curve(X)
    loss[first_nan:] = math.nan
    for method in METHODS:
        got = suggest(LRS, loss, method, stop_step=stop)
        assert got.lr is None
        assert got.index is None
        assert f"too few usable points: {count}" in got.reason


def test_short_curve_gives_none():
    lrs = ramp(1e-3, 1.0, 5)
    for method in METHODS:
        assert suggest(lrs, [5.0, 4.0, 3.0, 2.0, 9.0], method, stop_step=4).lr is None


def test_rising_curve_has_no_descent():
    loss = 1.0 + np.linspace(0.0, 1.0, N) ** 2
    for method in METHODS:
        got = suggest(LRS, loss, method, stop_step=None)
        assert got.lr is None
        assert "no descent" in got.reason


def test_monotone_decrease_without_stop_is_a_lower_bound():
    loss = 1.0 + np.exp(-X / 3.0)  # decreasing all the way to end_lr
    last = N - 1 - 3  # last usable point minus skip_end
    low = suggest(LRS, loss, "minimum", stop_step=None)
    assert (low.lr, low.index, low.lower_bound_only) == (LRS[last] / 4, last, True)
    rng = suggest(LRS, loss, "range", stop_step=None)
    assert (rng.lr, rng.lower_bound_only) == (LRS[last], True)
    assert not suggest(LRS, loss, "steepest", stop_step=None).lower_bound_only


def test_valley_matches_a_hand_trace():
    # losses 5 6 4 3 7 2 1 8; lds (longest strictly decreasing run ending at i):
    # 1 1 2 3 1 4 5 1 (e.g. 1 via 5>4>3>2>1). Largest first at e = 6, L = 5.
    # index = e - L + int(5/3) + int(5/6) = 1 + 1 + 0 = 2.
    lrs = ramp(1e-4, 1.0, 8)
    losses = [5.0, 6.0, 4.0, 3.0, 7.0, 2.0, 1.0, 8.0]
    got = suggest(lrs, losses, "valley", stop_step=None, window=1, skip_start=0, skip_end=0)
    assert (got.index, got.lr) == (2, lrs[2])
    # 3 2 5: lds 1 2 1, e = 1, L = 2 -> index 1 - 2 + 0 + 0 = -1: fastai reads lrs[-1] (the
    # highest loss); we clamp to the first point.
    got = suggest(
        lrs[:3], [3.0, 2.0, 5.0], "valley", stop_step=None, window=1, skip_start=0, skip_end=0
    )
    assert got.index == 0


def test_valley_on_a_monotone_curve_tracks_the_start():
    # Strictly decreasing convex curve of n points: e = n-1, L = n, index int(n/3) + int(n/6) - 1.
    # Starting the test later moves valley but not minimum (the caveat in the docstring).
    lrs = ramp(1e-5, 1.0, 60)
    losses = 1.0 + np.exp(-np.arange(60) / 20.0)
    kw = {"stop_step": None, "window": 1, "skip_start": 0, "skip_end": 0}
    assert suggest(lrs, losses, "valley", **kw).index == 20 + 10 - 1
    later = suggest(lrs[30:], losses[30:], "valley", **kw)
    assert later.index == 10 + 5 - 1  # 30 points
    assert (
        suggest(lrs[30:], losses[30:], "minimum", **kw).lr
        == suggest(lrs, losses, "minimum", **kw).lr
    )


# ---------------------------------------------------------------- knee and the budget floor


def test_knee_index_by_hand():
    # min 2.0 at index 4; floor 0: threshold 1.05 * 2.0 = 2.1, first value <= 2.1 is y[2].
    y = np.array([5.0, 3.0, 2.1, 2.05, 2.0, 2.02, 3.0])
    assert knee_index(y) == 2
    # floor 1.9: threshold 1.9 + 1.05 * 0.1 = 2.005, so only the minimum itself qualifies.
    assert knee_index(y, loss_floor=1.9) == 4
    # tol 0: the argmin; the flat part after the minimum (y[5]) is never the knee.
    assert knee_index(y, tol=0.0) == 4


def test_knee_index_is_scale_free_and_a_floor_above_the_minimum_gives_the_argmin():
    y = np.array([5.0, 3.0, 2.1, 2.05, 2.0, 2.02, 3.0])
    # floor 1.5: threshold 1.5 + 1.05 * 0.5 = 2.025, first value <= 2.025 is y[4] = 2.0.
    for scale in (1e-6, 7.0, 1e6):
        assert knee_index(scale * y) == 2
        assert knee_index(1.5 + scale * (y - 1.5), loss_floor=1.5) == 4
    assert knee_index(y, loss_floor=2.5) == 4  # a wrong floor (above the minimum): the argmin


def test_budget_floor_closed_form_on_the_exponential_ramp():
    # Geometric sum: start * (q^(k+1) - 1) / (q - 1), q = (end/start)^(1/(N-1)).
    lrs = ramp(1e-6, 10.0, 100)
    q = 1e7 ** (1 / 99)
    for k, steps in ((0, 1), (50, 300), (99, 900)):
        expected = 1e-6 * (q ** (k + 1) - 1) / (q - 1) / steps
        assert budget_floor(lrs, k, steps) == pytest.approx(expected, rel=1e-12)


def _flat_bottom_curve():
    """20 points over lrs 10^(-4 + t/4): falls 10 -> 1.04 (t = 0..8), stays within 4 % of its
    minimum 1.0 at t = 12, then rises; hand-built so that the knee is t = 8, the argmin 12."""
    lrs = 10.0 ** (-4 + np.arange(20) / 4)
    y = np.array([10, 8, 6, 4, 3, 2, 1.5, 1.2, 1.04, 1.03, 1.02, 1.01, 1.0, 1.02, 1.1, 1.5, 3,
                  6, 12, 30], dtype=float)  # fmt: skip
    return lrs, y


def test_knee_suggestion_is_the_knee_over_min_div():
    lrs, y = _flat_bottom_curve()
    kw = {"stop_step": 19, "window": 1, "skip_start": 0, "skip_end": 0}
    knee, low = suggest(lrs, y, "knee", **kw), suggest(lrs, y, "minimum", **kw)
    assert (knee.index, low.index) == (8, 12)
    assert knee.lr == pytest.approx(10.0**-2 / 4, rel=1e-12)  # lrs[8] = 10^(-4 + 2)
    assert low.lr == pytest.approx(10.0**-1 / 4, rel=1e-12)  # lrs[12] = 10^(-4 + 3)
    assert not knee.lower_bound_only
    # a budget changes nothing unless the optimizer's step is normalised
    assert suggest(lrs, y, "knee", budget_steps=10, **kw).lr == knee.lr


def test_knee_with_a_normalised_step_is_the_geometric_mean_with_the_budget_floor():
    lrs, y = _flat_bottom_curve()
    kw = {"stop_step": 19, "window": 1, "skip_start": 0, "skip_end": 0, "normalized_step": True}
    # sum(lrs[0..8]) = 1e-4 * (10^(9/4) - 1) / (10^(1/4) - 1) (geometric), over 1000 steps
    moved = 1e-4 * (10 ** (9 / 4) - 1) / (10 ** (1 / 4) - 1)
    upper = 1e-2 / 4
    got = suggest(lrs, y, "knee", budget_steps=1000, **kw)
    assert got.lr == pytest.approx(math.sqrt(upper * moved / 1000), rel=1e-12)
    assert "lower bound" in got.reason
    # a budget too short for the floor to be below the knee / 4: the knee / 4 itself
    assert moved / 2 > upper
    assert suggest(lrs, y, "knee", budget_steps=2, **kw).lr == pytest.approx(upper, rel=1e-12)
    assert suggest(lrs, y, "knee", budget_steps=None, **kw).lr == pytest.approx(upper, rel=1e-12)


def test_smooth_usable_is_nan_after_the_usable_points():
    loss = np.linspace(3.0, 1.0, 20)
    got = smooth_usable(loss, stop_step=12, window=5)
    np.testing.assert_allclose(got[:12], loss[:12], rtol=1e-14)  # a line stays a line
    assert np.isnan(got[12:]).all()


def test_suggest_rejects_bad_arguments():
    with pytest.raises(ValueError, match="slide"):
        suggest(LRS, _curve(X), "slide", stop_step=None)
    with pytest.raises(ValueError, match="log"):
        suggest(LRS, _curve(X), "minimum", mode="log", stop_step=None)
    with pytest.raises(ValueError, match="length"):
        suggest(LRS[:-1], _curve(X), "minimum", stop_step=None)
    with pytest.raises(ValueError, match="increasing"):
        suggest(LRS[::-1], _curve(X), "minimum", stop_step=None)
    with pytest.raises(ValueError, match="stop_step"):
        suggest(LRS, _curve(X), "minimum", stop_step=N)


# ---------------------------------------------------------------- seeds (§8 "Robustness report")


def test_mean_curve_is_nan_where_any_seed_stopped():
    curves = np.array(
        [[3.0, 2.0, 1.0, 2.0], [5.0, 4.0, math.nan, math.nan], [1.0, 0.0, 2.0, 3.0]],
    )
    np.testing.assert_allclose(
        mean_curve(curves)[:2], [3.0, 2.0], rtol=1e-15
    )  # (3+5+1)/3, (2+4+0)/3
    assert np.isnan(mean_curve(curves)[2:]).all()


def test_aggregate_by_hand():
    # log10: -3, -3 + log10 2, -3 + 2 log10 2: median 2e-3; sample sd = log10 2.
    # q25/q75 at positions 0.5 and 1.5: geometric means sqrt(1*2)e-3 and sqrt(2*4)e-3.
    got = aggregate([1e-3, None, 4e-3, 2e-3])
    assert (got["n"], got["n_missing"]) == (3, 1)
    assert (got["median"], got["min"], got["max"]) == (2e-3, 1e-3, 4e-3)
    assert got["sd_log10"] == pytest.approx(math.log10(2), rel=1e-12)
    assert got["q25"] == pytest.approx(math.sqrt(2) * 1e-3, rel=1e-12)
    assert got["q75"] == pytest.approx(math.sqrt(8) * 1e-3, rel=1e-12)
    assert got["iqr_ratio"] == pytest.approx(2.0, rel=1e-12)
    assert got["unstable"] is True
    # even count: geometric mean of the middle two
    assert aggregate([1e-3, 4e-3])["median"] == pytest.approx(2e-3, rel=1e-12)


def test_aggregate_unstable_flag_both_ways():
    # close together: ratio 1.2, sd tiny
    assert aggregate([1e-3, 1.2e-3, 1.1e-3])["unstable"] is False
    # ratio 4 > 3 but small sd: log10 offsets nine 0s and one a = log10 4; mean a/10, sum of
    # squared deviations 9(a/10)^2 + (9a/10)^2 = 0.9 a^2, sample sd sqrt(0.9 a^2/9) = a/sqrt(10) = 0.19
    spread = aggregate([1e-3] * 9 + [4e-3])
    assert spread["sd_log10"] == pytest.approx(math.log10(4) / math.sqrt(10), rel=1e-12)
    assert spread["unstable"] is True
    # ratio 2.9 < 3 but sd = log10(2.9)/sqrt(2) = 0.327 > 0.25
    two = aggregate([1e-3, 2.9e-3])
    assert two["sd_log10"] == pytest.approx(math.log10(2.9) / math.sqrt(2), rel=1e-12)
    assert two["unstable"] is True
    # loosened thresholds clear both
    assert aggregate([1e-3, 2.9e-3], unstable_sd=0.5)["unstable"] is False


def test_aggregate_all_none_and_one_value():
    got = aggregate([None, None])
    assert (got["n"], got["n_missing"]) == (0, 2)
    assert all(
        got[k] is None for k in ("median", "q25", "q75", "min", "max", "sd_log10", "unstable")
    )
    one = aggregate([3e-4, None])
    assert (one["median"], one["min"], one["max"]) == (3e-4, 3e-4, 3e-4)
    assert (one["sd_log10"], one["unstable"]) == (None, None)
    assert aggregate([])["n"] == 0
