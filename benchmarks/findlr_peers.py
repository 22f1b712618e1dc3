"""The LR-finder rules of fastai, PyTorch Lightning and torch-lr-finder, restated in numpy.

A benchmark's reference (``benchmarks/findlr_bench.py``), not part of lrbench: each peer gets
the learning rates and the raw losses of one range test and returns what the library would
suggest from them. The rules were read in each library's source, at the commit named (the
version stored by the search index used to write this file):

- fastai: ``fastai/callback/schedule.py`` @ 0a049e8a (``LRFinder``, ``lr_find``, ``valley``,
  ``slide``, ``minimum``, ``steep``) and ``fastai/learner.py`` @ 5bc369c2 (``Recorder``,
  ``AvgSmoothLoss``);
- Lightning: ``src/lightning/pytorch/tuner/lr_finder.py`` @ 00127827 (``_LRCallback``,
  ``_LRFinder.suggestion``) and ``src/lightning/pytorch/loops/training_epoch_loop.py``
  @ 017bff99 (the optimizer step, hence ``global_step += 1``, runs before
  ``on_train_batch_end``);
- torch-lr-finder: ``torch_lr_finder/lr_finder.py`` @ 00abb907 (``LRFinder.range_test``,
  ``LRFinder.plot``).

What each library records is the same thing: per step ``t``, the learning rate used at ``t``
and a smoothing of the minibatch losses computed *before* update ``t`` (lrbench's
``loss_batch_pre``). Each ``*_record`` function applies the library's smoothing and its
divergence stop (the stopping point is recorded, as in all three), each suggestion function
its trims and its rule. The ramp is lrbench's (both ends exact), not the library's own ladder,
so that every method reads the same curve; the arithmetic is float64 where the libraries use
the loss's dtype. Where a library would raise (too few points), the function returns None.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Rule = Callable[[np.ndarray, np.ndarray], "float | None"]


def _as_arrays(lrs: np.ndarray, losses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both as float64. lrbench's curves are NaN after the step where the engine stopped on a
    non-finite loss: what a library records once its model's weights are NaN."""
    return np.asarray(lrs, dtype=np.float64), np.asarray(losses, dtype=np.float64)


# ------------------------------------------------------------------------------ fastai


def fastai_record(
    lrs: np.ndarray, losses: np.ndarray, *, beta: float = 0.98, stop_div: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """``Recorder`` + ``LRFinder``: the debiased EMA ``AvgSmoothLoss`` (``val = beta*val +
    (1-beta)*loss`` from ``val = 0``, reported as ``val / (1 - beta**count)``, ``count`` = 1 at
    the first batch), recorded before ``LRFinder.after_batch`` runs (Recorder's order 50 < 60);
    then ``best = min(best, smooth)`` and the fit stops if ``smooth > 4*best`` (``stop_div``).
    A NaN never compares true, so it does not stop the fit (``lr_find`` cuts it off later)."""
    lr, x = _as_arrays(lrs, losses)
    out: list[float] = []
    val, best = 0.0, float("inf")
    for count, loss in enumerate(x.tolist(), start=1):
        val = beta * val + (1.0 - beta) * loss  # torch.lerp(loss, val, beta)
        smooth = val / (1.0 - beta**count)
        out.append(smooth)
        if smooth < best:
            best = smooth
        if stop_div and smooth > 4.0 * best:
            break
    return lr[: len(out)], np.array(out)


def fastai_trim(lrs: np.ndarray, losses: np.ndarray, num_it: int) -> tuple[np.ndarray, np.ndarray]:
    """``lr_find``'s post-processing: ``[num_it//10 : -5]`` of the recorded values (``num_it``
    is the requested length, not the recorded one), then cut at the first NaN."""
    lr, x = lrs[num_it // 10 : -5], losses[num_it // 10 : -5]
    bad = np.flatnonzero(np.isnan(x))
    if bad.size:
        lr, x = lr[: bad[0]], x[: bad[0]]
    return lr, x


def fastai_valley(lrs: np.ndarray, losses: np.ndarray) -> float | None:
    """``valley``: ``lds[i]`` = length of the longest strictly decreasing subsequence ending at
    ``i`` (O(n^2) double loop); ``max_end`` = the first ``i`` with the largest ``lds`` and
    ``max_start = max_end - lds[max_end]``; ``sections = (max_end - max_start) / 3``; index
    ``max_start + int(sections) + int(sections/2)``. That index is -1 when the descent starts
    at 0 and is shorter than 3 points, and Python then reads the *last* learning rate: kept."""
    n = len(losses)
    if n == 0:
        return None  # fastai: IndexError on lrs[0]
    lds = [1] * n
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return float(lrs[idx])


def fastai_slide(
    lrs: np.ndarray,
    losses: np.ndarray,
    lr_diff: int = 15,
    thresh: float = 0.005,
    adjust_value: float = 1.0,
) -> float | None:
    """``slide``: ``g = np.gradient(losses)`` (index spacing); a window ``[l, r]`` starts at
    ``r = -1``, ``l = r - lr_diff``; while ``l >= -n`` and ``|g[r] - g[l]| > thresh`` it records
    ``lrs[l]`` and moves one step left. Returns the last recorded ``lrs[l]`` (the left end of the
    last window whose gradients still differed, or ``lrs[-lr_diff-1]`` if the first agreed)
    times ``adjust_value``. ``thresh`` is in loss units per step."""
    n = len(losses)
    if n < lr_diff + 1 or n < 2:
        return None  # fastai: IndexError on lrs[-16] (or np.gradient's ValueError)
    grad = np.gradient(np.asarray(losses, dtype=np.float64))
    r, left = -1, -1 - lr_diff
    found = lrs[left]
    while left >= -n and abs(grad[r] - grad[left]) > thresh:
        found = lrs[left]
        r -= 1
        left -= 1
    return float(found) * adjust_value


def fastai_minimum(lrs: np.ndarray, losses: np.ndarray) -> float | None:
    """``minimum``: ``lrs[argmin(losses)] / 10`` (the first minimum)."""
    if len(losses) == 0:
        return None
    return float(lrs[int(np.argmin(losses))]) / 10.0


def fastai_steep(lrs: np.ndarray, losses: np.ndarray) -> float | None:
    """``steep``: forward differences against ln(lr), ``g_i = (L[i+1]-L[i]) / (ln lr[i+1] -
    ln lr[i])``; returns ``lrs[argmin g]``, the left end of the steepest segment."""
    if len(losses) < 2:
        return None
    x = np.asarray(losses, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        g = np.diff(x) / np.diff(np.log(lrs))
    return float(lrs[int(np.argmin(g))])


def fastai(rule: Callable[[np.ndarray, np.ndarray], float | None]) -> Rule:
    """A fastai suggestion function run as ``lr_find`` runs it: record, trim, suggest."""

    def run(lrs: np.ndarray, losses: np.ndarray) -> float | None:
        num_it = len(lrs)
        lr, x = fastai_record(lrs, losses)
        return rule(*fastai_trim(lr, x, num_it))

    return run


# ------------------------------------------------------------------------------ Lightning


def lightning_record(
    lrs: np.ndarray,
    losses: np.ndarray,
    *,
    beta: float = 0.98,
    early_stop_threshold: float | None = 4.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``_LRCallback.on_train_batch_end``: ``avg = beta*avg + (1-beta)*loss`` from ``avg = 0``,
    ``smoothed = avg / (1 - beta**(global_step + 1))`` where ``global_step`` is already 1 at
    the first batch (so the debiasing exponent is one too high); the fit stops when
    ``global_step > 1`` and ``smoothed > threshold * best``; ``best`` is set at step 1 and
    lowered after the check; the point is recorded in every case. A NaN loss makes every later
    value NaN; ``suggestion`` drops them."""
    lr, x = _as_arrays(lrs, losses)
    out: list[float] = []
    avg, best = 0.0, 0.0
    for step, loss in enumerate(x.tolist(), start=1):
        avg = beta * avg + (1.0 - beta) * loss
        smoothed = avg / (1.0 - beta ** (step + 1))
        stop = (
            early_stop_threshold is not None and step > 1 and smoothed > early_stop_threshold * best
        )
        if smoothed < best or step == 1:
            best = smoothed
        out.append(smoothed)
        if stop:
            break
    return lr[: len(out)], np.array(out)


def lightning_suggestion(
    lrs: np.ndarray, losses: np.ndarray, skip_begin: int = 10, skip_end: int = 1
) -> float | None:
    """``_LRFinder.suggestion``: ``losses[skip_begin:-skip_end]`` (so ``skip_end = 0`` leaves
    nothing), non-finite points dropped, at least 2 points; ``torch.gradient(losses,
    spacing=[lrs])``, i.e. against the learning rate itself (second-order differences for
    uneven spacing inside, one-sided at the ends: numpy's ``np.gradient(losses, lrs)``);
    returns the learning rate at the most negative gradient."""
    x = np.asarray(losses, dtype=np.float64)[skip_begin:-skip_end]
    lr = np.asarray(lrs, dtype=np.float64)[skip_begin:-skip_end]
    keep = np.isfinite(x)
    x, lr = x[keep], lr[keep]
    if x.size < 2:
        return None
    return float(lr[int(np.argmin(np.gradient(x, lr)))])


def lightning(lrs: np.ndarray, losses: np.ndarray) -> float | None:
    """``Tuner.lr_find`` then ``suggestion()`` with its defaults."""
    return lightning_suggestion(*lightning_record(lrs, losses))


# ------------------------------------------------------------------------------ torch-lr-finder


def torch_lr_finder_record(
    lrs: np.ndarray, losses: np.ndarray, *, smooth_f: float = 0.05, diverge_th: float = 5.0
) -> tuple[np.ndarray, np.ndarray]:
    """``LRFinder.range_test``: the first loss is recorded raw and is the first ``best``; then
    ``loss = smooth_f*loss + (1-smooth_f)*previous recorded``, ``best = min(best, loss)``; the
    point is recorded, and the test stops if ``loss > diverge_th * best``. A NaN never stops it:
    NaNs are recorded up to ``num_iter``."""
    lr, x = _as_arrays(lrs, losses)
    out: list[float] = []
    best = 0.0
    for it, loss in enumerate(x.tolist()):
        if it == 0:
            best = loss
        else:
            if smooth_f > 0:
                loss = smooth_f * loss + (1.0 - smooth_f) * out[-1]
            if loss < best:
                best = loss
        out.append(loss)
        if loss > diverge_th * best:
            break
    return lr[: len(out)], np.array(out)


def torch_lr_finder_steepest(
    lrs: np.ndarray, losses: np.ndarray, skip_start: int = 10, skip_end: int = 5
) -> float | None:
    """``LRFinder.plot(suggest_lr=True)``: ``[skip_start:-skip_end]`` (``[skip_start:]`` when
    ``skip_end = 0``), then ``np.gradient(losses).argmin()`` with index spacing (numpy's argmin
    returns the first NaN if there is one); None where ``np.gradient`` raises (< 2 points)."""
    end = None if skip_end == 0 else -skip_end
    x = np.asarray(losses, dtype=np.float64)[skip_start:end]
    lr = np.asarray(lrs, dtype=np.float64)[skip_start:end]
    if x.size < 2:
        return None
    return float(lr[int(np.argmin(np.gradient(x)))])


def torch_lr_finder(lrs: np.ndarray, losses: np.ndarray) -> float | None:
    """``range_test`` then ``plot()``'s suggestion, with their defaults."""
    return torch_lr_finder_steepest(*torch_lr_finder_record(lrs, losses))


#: Every peer rule, named as in the benchmark's tables.
PEERS: dict[str, Rule] = {
    "fastai valley": fastai(fastai_valley),
    "fastai minimum": fastai(fastai_minimum),
    "fastai steep": fastai(fastai_steep),
    "fastai slide": fastai(fastai_slide),
    "lightning": lightning,
    "torch-lr-finder": torch_lr_finder,
}
