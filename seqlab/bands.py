"""Seed bands: the mean and ±1 sample standard deviation across runs that differ only in their seed.

For R runs with values y_r(s) at training step s:

    mean(s) = (1/n(s)) Σ_r y_r(s)        std(s) = sqrt( Σ_r (y_r(s) − mean(s))² / (n(s) − 1) )

where n(s) counts the runs with a finite value at s (ddof = 1: the seeds are a sample of all seeds;
with n(s) = 1 the std is undefined and is NaN, so no band is drawn there).

Alignment. Seeds of one config log at the same steps, but not always the same *set* of steps: a run
that reaches its target or diverges stops early, and the app downsamples each run's curve by its own
length. So the runs are put on one grid — the union of their steps — by linear interpolation in
step, each run only inside its own [first, last] step. Past its end a run contributes nothing (not
its last value carried on): a stopped run says nothing about later steps, and ``n`` shows where the
band rests on fewer runs. Where every run logged the same steps, interpolation is the identity and
the band is exactly the per-step mean and std of the recorded values.

Values may be scalars per step (loss, a metric) or vectors (‖∂L/∂x_t‖ per input step t): the
statistics are taken element-wise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SEED_MARK = " · seed "  # a run's label in a seed group: "<series> · seed <n>"


def seed_label(series: str, seed: int) -> str:
    return f"{series}{SEED_MARK}{seed}"


def series_of(label: str) -> str:
    """The series a run belongs to: its label without the seed suffix (``lstm · seed 2`` → ``lstm``)."""
    return label.split(SEED_MARK, 1)[0]


@dataclass(frozen=True)
class Band:
    step: np.ndarray  # (S,) the union of the runs' steps, ascending
    mean: np.ndarray  # (S,) or (S, T)
    std: np.ndarray  # same shape as mean; NaN where n < 2
    n: np.ndarray  # same shape as mean: runs with a finite value there

    @property
    def lo(self) -> np.ndarray:
        return self.mean - self.std

    @property
    def hi(self) -> np.ndarray:
        return self.mean + self.std


def align(runs: Sequence[tuple[Sequence[float], np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(grid (S,), values (R, S) or (R, S, T)) for runs given as (steps (S_r,), values (S_r,) or (S_r, T_r));
    NaN where a run has no value: outside its finite records, at a non-finite record, or past a shorter
    vector's end."""
    parts = [(np.asarray(s, dtype=float), np.asarray(v, dtype=float)) for s, v in runs]
    vector = any(v.ndim > 1 for _, v in parts)
    width = max((v.shape[1] for _, v in parts if v.ndim > 1), default=1)
    steps_seen = [s for s, _ in parts if len(s)]
    grid = np.unique(np.concatenate(steps_seen)) if steps_seen else np.empty(0)
    out = np.full((len(parts), len(grid), width), np.nan)
    for r, (steps, values) in enumerate(parts):
        values = values.reshape(len(steps), -1)
        for k in range(values.shape[1]):
            col = values[:, k]
            ok = np.isfinite(col)
            if not ok.any():
                continue
            known = steps[ok]
            inside = (grid >= known.min()) & (grid <= known.max())
            vals = np.interp(grid[inside], *_sorted(known, col[ok]))
            # a step whose own record is non-finite stays NaN rather than being bridged over
            vals[np.isin(grid[inside], steps[~ok]) & ~np.isin(grid[inside], known)] = np.nan
            out[r, inside, k] = vals
    return grid, out if vector else out[:, :, 0]


def _sorted(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(x, kind="stable")
    return x[order], y[order]


def band(runs: Sequence[tuple[Sequence[float], np.ndarray]]) -> Band:
    """Mean and ±1 sample std across ``runs`` (each (steps, values)) at every step of their union."""
    grid, values = align(runs)
    n = np.isfinite(values).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.where(np.isfinite(values), values, 0.0).sum(axis=0)
        mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
        sq = np.where(np.isfinite(values), (values - mean) ** 2, 0.0).sum(axis=0)
        std = np.where(n > 1, np.sqrt(sq / np.maximum(n - 1, 1)), np.nan)
    return Band(grid, mean, std, n)
