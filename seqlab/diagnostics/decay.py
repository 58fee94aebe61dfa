"""How fast the learning signal fades going back in time: a geometric fit to ‖∂L/∂x_t‖.

In a tanh RNN the gradient reaching input t is a product of T − t Jacobians, so it shrinks
roughly geometrically, ‖∂L/∂x_t‖ ≈ C·r^(T−t) with r < 1 (Bengio et al. 1994). A least-squares line
through log10 ‖∂L/∂x_t‖ over t gives r as one number per run, the number the heatmap's dark left
edge shows as colour. Norms at or below ``floor`` are float32 underflow, not a measured value, and
are left out of the fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Decay:
    per_step: float  # r: the factor the gradient is multiplied by for each step further back
    first_over_last: float  # ‖∂L/∂x_1‖ / ‖∂L/∂x_T‖ as measured (floored values included)
    fitted: int  # positions the fit used

    def to_json(self) -> dict:
        return {"per_step": self.per_step, "first_over_last": self.first_over_last, "fitted": self.fitted}


def gradient_decay(norms, floor: float = 1e-12) -> Decay | None:
    """The geometric fit of one profile ``norms`` (‖∂L/∂x_t‖ for t = 1..T); None with fewer than 3
    positions above ``floor``."""
    g = np.asarray(norms, dtype=float)
    t = np.arange(1, len(g) + 1)
    keep = np.isfinite(g) & (g > floor)
    if keep.sum() < 3:
        return None
    slope = np.polyfit(t[keep], np.log10(g[keep]), 1)[0]  # log10 growth per step forward in t
    last = max(g[-1], floor) if np.isfinite(g[-1]) else floor
    first = max(g[0], floor) if np.isfinite(g[0]) else floor
    return Decay(per_step=float(10.0 ** (-slope)), first_over_last=float(first / last), fitted=int(keep.sum()))
