"""The peers' LR-finder rules restated in benchmarks/findlr_peers.py, on their documented
behaviour.

Every expected value is a hand trace of the library code cited in that module (written out in
the comments), a closed form, or torch itself (``torch.gradient``, Lightning's gradient).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "findlr_peers.py"
_SPEC = importlib.util.spec_from_file_location("findlr_peers", _PATH)
peers = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(peers)

LRS7 = 10.0 ** np.arange(7)  # 1, 10, ..., 1e6: easy to read back


# ---------------------------------------------------------------- fastai


def test_fastai_smoothing_is_debiased_and_stops_after_recording_four_times_best():
    beta = 0.98
    # A constant curve: val_t = (1 - beta^t) c, reported / (1 - beta^t) = c exactly.
    lr, s = peers.fastai_record(np.arange(1.0, 21.0), np.full(20, 3.0))
    assert lr.size == 20 and s == pytest.approx(np.full(20, 3.0), rel=1e-12)
    # 1 for 10 steps, then 1000: smooth_t = (sum_j (1-b) b^(t-j) x_j) / (1 - b^t), the first t
    # with smooth_t > 4 * min(smooth) = 4 is recorded, and the fit stops there.
    x = np.concatenate([np.ones(10), np.full(10, 1000.0)])
    t = np.arange(1, 21)
    smooth = [
        sum((1 - beta) * beta ** (k - j) * x[j - 1] for j in range(1, k + 1)) / (1 - beta**k)
        for k in t
    ]
    stop = next(i for i, v in enumerate(smooth) if v > 4.0)
    lr, s = peers.fastai_record(np.arange(1.0, 21.0), x)
    assert stop == 10 and s.size == stop + 1
    assert s == pytest.approx(smooth[: stop + 1], rel=1e-12)


def test_fastai_nan_does_not_stop_and_lr_find_cuts_it():
    x = np.array([1.0, 1.0, math.nan, 1.0, 1.0])
    lr, s = peers.fastai_record(np.arange(1.0, 6.0), x)
    assert s.size == 5 and np.isnan(s[2:]).all()  # NaN > 4*best is False: no stop
    # lr_find: [num_it//10 : -5] of the recording, then up to the first NaN.
    lr, s = peers.fastai_record(np.arange(1.0, 31.0), np.r_[np.ones(20), math.nan, np.ones(9)])
    lr2, s2 = peers.fastai_trim(lr, s, num_it=30)
    assert lr2.tolist() == list(np.arange(4.0, 21.0))  # indices 3 .. 19: the NaN at 20 cut
    assert peers.fastai_trim(lr[:7], s[:7], num_it=30)[0].size == 0  # 3:-5 of 7 is empty


def test_fastai_valley_hand_trace():
    # lds = [1, 2, 1, 3, 4, 4, 5, 1]; max_end is set to 3 (start 0), 4 (start 0), then 6 with
    # lds 5: max_start = 6 - 5 = 1. sections = 5/3; idx = 1 + int(1.67) + int(0.83) = 2.
    losses = np.array([5.0, 4.0, 6.0, 3.0, 2.0, 2.5, 1.0, 7.0])
    lrs = 10.0 ** np.arange(8)
    assert peers.fastai_valley(lrs, losses) == lrs[2]


def test_fastai_valley_reads_the_last_lr_when_its_index_is_minus_one():
    # lds = [1, 2, 1, 1, 1]: max_end 1, max_start = 1 - 2 = -1, sections 2/3: idx = -1, and
    # Python's lrs[-1] is the last learning rate (fastai's code, kept).
    assert peers.fastai_valley(LRS7[:5], np.array([3.0, 2.0, 5.0, 5.5, 6.0])) == LRS7[4]
    assert peers.fastai_valley(LRS7[:0], np.array([])) is None


def test_fastai_slide_hand_trace():
    # np.gradient of [0,0,0,0,1,3,6] (index spacing) = [0, 0, 0, .5, 1.5, 2.5, 3].
    # Windows (r, l) with lr_diff 2: (-1,-3) |3-1.5| > .1 record lrs[-3]; (-2,-4) |2.5-.5|
    # record lrs[-4]; (-3,-5) |1.5-0| record lrs[-5]; (-4,-6) |.5-0| record lrs[-6];
    # (-5,-7) |0-0| <= .1 stop: lrs[-6] = lrs[1].
    losses = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 3.0, 6.0])
    assert peers.fastai_slide(LRS7, losses, lr_diff=2, thresh=0.1) == LRS7[1]
    assert peers.fastai_slide(LRS7, losses, lr_diff=2, thresh=0.1, adjust_value=2.0) == 20.0
    # First window already agrees: lrs[-lr_diff-1], the initial value.
    assert peers.fastai_slide(LRS7, np.zeros(7), lr_diff=2) == LRS7[-3]
    # Every window differs: the loop runs off the left end after recording lrs[-n] = lrs[0].
    assert peers.fastai_slide(LRS7, np.arange(7.0) ** 3, lr_diff=2, thresh=1e-9) == LRS7[0]
    assert peers.fastai_slide(LRS7, losses) is None  # default lr_diff 15 needs 16 points


def test_fastai_minimum_and_steep():
    losses = np.array([4.0, 3.0, 1.0, 1.0, 2.0])
    assert peers.fastai_minimum(LRS7[:5], losses) == LRS7[2] / 10  # first of the tied minima
    # Forward differences per ln-decade: -1, -2, 0, 1 (/ ln 10): the steepest segment is 1->2,
    # whose left end is lrs[1].
    assert peers.fastai_steep(LRS7[:5], losses) == LRS7[1]
    assert peers.fastai_steep(LRS7[:1], losses[:1]) is None


def test_fastai_rule_runs_record_trim_and_suggest():
    n = 100
    lrs = np.geomspace(1e-6, 10.0, n)
    raw = 2.0 - np.tanh(np.log(lrs / 1e-3)) + 1e-4 * np.exp(np.log(lrs / 1e-3) * 2)
    lr, s = peers.fastai_record(lrs, raw)
    lr, s = peers.fastai_trim(lr, s, n)
    assert peers.PEERS["fastai minimum"](lrs, raw) == lr[np.argmin(s)] / 10


# ---------------------------------------------------------------- Lightning


def test_lightning_debiasing_exponent_is_one_too_high():
    # global_step is already 1 at the first batch: smoothed_t = (1 - b^t)/(1 - b^(t+1)) * c
    # for a constant c, so the recorded curve starts at c/(1+b) and rises (Lightning #14167).
    beta = 0.98
    lr, s = peers.lightning_record(np.arange(1.0, 31.0), np.full(30, 2.0))
    t = np.arange(1, 31)
    assert s == pytest.approx(2.0 * (1 - beta**t) / (1 - beta ** (t + 1)), rel=1e-12)
    assert s[0] == pytest.approx(2.0 / (1 + beta), rel=1e-12)


def test_lightning_stop_rule_skips_step_one_and_records_the_stop():
    beta = 0.98
    x = np.concatenate([np.ones(5), np.full(10, 100.0)])
    avg, vals = 0.0, []
    for k, v in enumerate(x, start=1):
        avg = beta * avg + (1 - beta) * v
        vals.append(avg / (1 - beta ** (k + 1)))
    best = min(vals[:5])  # the rising start: best is step 1's value
    assert best == vals[0]
    stop = next(k for k in range(1, 15) if vals[k] > 4 * best)
    lr, s = peers.lightning_record(np.arange(1.0, 16.0), x)
    assert s.size == stop + 1 and s == pytest.approx(vals[: stop + 1], rel=1e-12)


def test_lightning_suggestion_is_the_steepest_gradient_against_lr():
    # loss = cos(pi lr) on an even lr grid: d/dlr = -pi sin(pi lr), most negative at lr = 0.5.
    lrs = np.linspace(0.05, 1.95, 191)
    got = peers.lightning_suggestion(lrs, np.cos(np.pi * lrs))
    assert got == pytest.approx(0.5, abs=1e-12)
    assert peers.lightning_suggestion(lrs, np.cos(np.pi * lrs), skip_end=0) is None  # [10:-0]
    short = np.array([1.0] * 11 + [math.nan, 2.0])
    assert peers.lightning_suggestion(np.arange(1.0, 14.0), short) is None  # 1 finite point


def test_lightning_gradient_matches_torch_gradient_on_uneven_spacing():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    lrs = np.sort(rng.uniform(1e-4, 1.0, 60))
    losses = rng.standard_normal(60)
    losses[17] = math.nan  # dropped before the gradient, as in _LRFinder.suggestion
    x, lr = torch.tensor(losses[10:-1]), torch.tensor(lrs[10:-1])
    keep = torch.isfinite(x)
    grad = torch.gradient(x[keep], spacing=[lr[keep]])[0]
    expected = float(lr[keep][int(torch.argmin(grad))])
    assert peers.lightning_suggestion(lrs, losses) == expected


# ---------------------------------------------------------------- torch-lr-finder


def test_torch_lr_finder_seeded_ema_and_five_times_best():
    # First loss raw (it is also the first best); then s_t = .05 x_t + .95 s_{t-1}.
    x = np.array([2.0, 1.0, 1.0, 100.0, 100.0, 100.0, 100.0, 100.0])
    s = [2.0]
    for v in x[1:]:
        s.append(0.05 * v + 0.95 * s[-1])
    best = np.minimum.accumulate(s)
    stop = next(i for i in range(8) if s[i] > 5 * best[i])
    lr, got = peers.torch_lr_finder_record(np.arange(1.0, 9.0), x)
    assert got == pytest.approx(s[: stop + 1], rel=1e-12)
    assert got.size == stop + 1 < 8


def test_torch_lr_finder_nan_never_stops_and_steepest_reads_the_first_nan():
    x = np.array([3.0, 2.0, math.nan, 1.0])
    lr, s = peers.torch_lr_finder_record(LRS7[:4], x)
    assert s.size == 4 and np.isnan(s[2:]).all()
    # plot(): np.gradient of the trimmed curve is NaN next to a NaN, and numpy's argmin returns
    # the first NaN: the suggestion is the lr just before the NaN.
    losses = np.array([5.0, 4.0, 3.0, math.nan, 1.0])
    assert peers.torch_lr_finder_steepest(LRS7[:5], losses, skip_start=0, skip_end=0) == LRS7[2]


def test_torch_lr_finder_steepest_uses_index_spacing_and_the_trims():
    # np.gradient (index spacing) of [9, 8, 4, 3, 2.5]: [-1, -2.5, -2.5, -.75, -.5]: first
    # minimum at index 1.
    losses = np.array([9.0, 8.0, 4.0, 3.0, 2.5])
    assert peers.torch_lr_finder_steepest(LRS7[:5], losses, skip_start=0, skip_end=0) == LRS7[1]
    # Default trims [10:-5] leave 1 point of 16: np.gradient raises, so no suggestion.
    assert peers.torch_lr_finder_steepest(np.arange(1.0, 17.0), np.ones(16)) is None
    padded = np.r_[np.full(10, 9.0), losses, np.ones(5)]
    lrs = np.arange(1.0, 21.0)
    assert peers.torch_lr_finder_steepest(lrs, padded) == lrs[11]
