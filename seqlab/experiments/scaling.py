r"""Scaling laws (Kaplan et al. 2020): held-out loss falls as a power of model size.

    L(N) = a · N^(−α) + c          N = non-embedding parameters, c = the irreducible loss

Kaplan et al. trained GPT-style models from 768 to 1.5 billion non-embedding parameters on
WebText2 and found L(N) ≈ (N_c / N)^0.076 over six orders of magnitude, with embedding parameters
left out of N because counting them spoils the straight line (their §3.1, Fig. 1 and 6); GPT-2
(Radford et al. 2019) and GPT-3 (Brown et al. 2020, Fig. 3.1) showed the same steady fall as they
grew. Here several ``gpt`` widths train on the same task under the same budget (steps × batch ×
sequence length tokens), and the fit is drawn on log–log axes, where a power law is a line.

Our task (``lm`` on the generated corpus of ``seqlab.tasks.language``) has an exactly known floor:
the Bayes-optimal predictor's loss, computed on the held-out batch. ``irreducible="none"`` (default)
sets c = 0 as in Kaplan's L(N), so only a and α are fitted (a straight line through log L against
log N, with the standard error of the slope); ``"bayes"`` uses the known floor as c, and ``"fit"``
estimates c too (a grid over c, the line at each). The result reports all three.

Measured with the defaults (``python -m seqlab scaling``, 1 CPU thread, ~45–60 s): widths 8 … 128
give N = 1,760 … 396,800 (2.4 orders of magnitude) and held-out losses 4.81, 3.73, 2.66, 1.81, 1.41
nats per token (blind guess ln 256 = 5.55, Bayes floor 0.955) after 409,600 tokens each. With c = 0:
α = 0.234 ± 0.009 (95 % ± 0.029), residual 0.03 in log loss — a straight line. With c = the Bayes
floor: α = 0.40 ± 0.03 but a visibly worse line (residual 0.10); fitting c drives it to 0. Within
this budget every size is still far from the floor, which is why the pure power law fits best.
With a 64-token corpus the larger models reach the floor within the budget and the line bends.

How far a CPU toy goes, honestly: ~1.5–2 orders of magnitude of N (a few thousand to ~10⁵
parameters) instead of six; 4–5 points, so the exponent's standard error is large and it depends on
the training budget — Kaplan's L(N) is the loss of models trained to convergence, ours are all
stopped after the same number of steps, where bigger models are also faster learners (Kaplan's
L(N, S)). The exponent here measures this corpus and budget, not language; it is not comparable to
0.076. What does carry over: at a fixed budget, loss falls steadily with size towards a floor, and
on log–log axes the reducible part is close to a line.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

from pydantic import Field, field_validator

from ..train.engine import Trainer
from .base import ExperimentConfig, Observers, no_observers

# two-sided 97.5 % quantiles of Student's t by degrees of freedom, for 95 % intervals on few points
T975 = {1: 12.71, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


class ScalingConfig(ExperimentConfig):
    section = "scaling"
    widths: list[int] = Field(
        default_factory=lambda: [8, 16, 32, 64, 128], description="hidden sizes d of the models, increasing"
    )
    layers: int = Field(2, ge=1, le=16, description="Transformer blocks (the same for every size)")
    heads: int = Field(2, ge=1, le=64, description="attention heads (must divide every width)")
    steps: int = Field(400, ge=1, le=1_000_000, description="training steps per model (the shared budget)")
    batch_size: int = Field(32, ge=1, le=4096, description="sequences per step")
    # 3e-3 trained every width here stably; one rate for all sizes keeps the comparison simple
    lr: float = Field(3e-3, gt=0, le=1, description="Adam learning rate (all sizes)")
    seq_len: int = Field(32, ge=2, le=4096, description="tokens per sequence")
    # a large vocabulary keeps every size far from the floor within the budget: the regime of a power law
    vocab_size: int = Field(256, ge=2, le=4096, description="corpus vocabulary")
    languages: int = Field(4, ge=1, le=256, description="languages in the corpus")
    branching: int = Field(3, ge=1, le=64, description="likely next tokens per token")
    grammar_seed: int = Field(0, ge=0, le=2**31 - 1, description="seed of the corpus grammar")
    # Kaplan et al.'s L(N) = (N_c / N)^α has no constant; the result reports the other two fits as well
    irreducible: Literal["none", "bayes", "fit"] = Field(
        "none", description="the constant c: 0, the exact Bayes loss, or fitted"
    )
    eval_size: int = Field(512, ge=1, le=65_536, description="held-out sequences")
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @field_validator("widths")
    @classmethod
    def _widths(cls, v: list[int]) -> list[int]:
        if any(w < 1 for w in v):
            raise ValueError(f"every width must be ≥ 1 (got {v})")
        if any(b <= a for a, b in zip(v, v[1:], strict=False)):
            raise ValueError(f"widths must be strictly increasing (got {v})")
        return v

    def check(self) -> None:
        need = 4 if self.irreducible == "fit" else 3
        if len(self.widths) < need:
            raise self.error(
                f"a fit with irreducible={self.irreducible!r} needs at least {need} sizes (got {len(self.widths)})",
                "widths",
            )
        bad = [w for w in self.widths if w % self.heads]
        if bad:
            raise self.error(f"{self.heads} heads do not divide the widths {bad}", "heads")

    def total_steps(self) -> int:
        return self.steps * len(self.widths)

    def run_flat(self, width: int) -> dict:
        return {
            "model": "gpt",
            "task": "lm",
            "hidden": width,
            "layers": self.layers,
            "heads": self.heads,
            "seq_len": self.seq_len,
            "vocab_size": self.vocab_size,
            "languages": self.languages,
            "branching": self.branching,
            "grammar_seed": self.grammar_seed,
            "steps": self.steps,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "eval_every": self.steps,
            "eval_size": self.eval_size,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class PowerLawFit:
    """L = a · N^(−α) + c fitted on log–log axes (``fit_power_law``), or why there is no fit (``error``)."""

    a: float | None = None
    alpha: float | None = None
    alpha_stderr: float | None = None
    alpha_ci95: float | None = None
    c: float | None = None
    dof: int | None = None
    rmse_log: float | None = None
    irreducible: str | None = None  # how c was chosen: "fit", "known" or "zero"
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict:
        return {"error": self.error} if self.error else {k: v for k, v in asdict(self).items() if k != "error"}


@dataclass(frozen=True)
class ScalingPoint:
    width: int
    params: int
    non_embedding_params: int  # Kaplan's N
    loss: float | None  # held-out; None if stopped before its first step
    accuracy: float | None
    seconds: float
    compute: float  # ≈ 6·N·tokens FLOPs, Kaplan's C
    status: str

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ScalingResult:
    config: dict
    points: list[ScalingPoint]
    fit: PowerLawFit  # the one ``config.irreducible`` chose, among ``fits``
    fits: dict[str, PowerLawFit]  # the same points fitted each way: "bayes", "fit", "none"
    bayes_loss: float | None  # the exact floor on the held-out batch
    blind_loss: float | None  # ln V
    tokens: int  # seen by every model
    seconds: float

    def to_json(self) -> dict:
        return {
            "config": self.config,
            "points": [p.to_json() for p in self.points],
            "fit": self.fit.to_json(),
            "fits": {k: f.to_json() for k, f in self.fits.items()},
            "bayes_loss": self.bayes_loss,
            "blind_loss": self.blind_loss,
            "tokens": self.tokens,
            "seconds": self.seconds,
        }


def non_embedding_params(model) -> int:
    """Parameters outside the token/position embeddings and the output projection — Kaplan et al.'s N
    (≈ 12 · layers · d² for a standard block). The output layer is left out too: GPT-2 ties it to the
    embedding matrix, so Kaplan's count excludes it."""
    skip = ("embed.", "pos", "head.")
    return sum(p.numel() for name, p in model.named_parameters() if not name.startswith(skip))


def _line(x: list[float], y: list[float]) -> tuple[float, float, float, float]:
    """Least squares y = b0 + b1·x: (b0, b1, standard error of b1, residual sum of squares)."""
    k = len(x)
    mx, my = sum(x) / k, sum(y) / k
    sxx = sum((u - mx) ** 2 for u in x)
    b1 = sum((u - mx) * (v - my) for u, v in zip(x, y, strict=True)) / sxx
    b0 = my - b1 * mx
    sse = sum((v - b0 - b1 * u) ** 2 for u, v in zip(x, y, strict=True))
    se = math.sqrt(sse / (k - 2) / sxx) if k > 2 else float("nan")
    return b0, b1, se, sse


def fit_power_law(n: list[float], loss: list[float], irreducible: float | str | None = None) -> PowerLawFit:
    """Fit L = a · N^(−α) + c on log–log axes: least squares of log(L − c) on log N.

    ``irreducible``: a number (c is known), ``None`` (c = 0) or ``"fit"`` (c chosen on a fine grid in
    [0, min L) to minimise the squared log residuals; its standard error is then conditional on c).
    Returns ``a, alpha, alpha_stderr, alpha_ci95`` (Student's t on the residual degrees of freedom),
    ``c``, ``dof`` and ``rmse_log`` (the residual scatter in log loss)."""
    if len(n) != len(loss) or len(n) < 2:
        raise ValueError("need at least two (N, loss) points of equal count")
    x = [math.log(v) for v in n]

    def at(c: float) -> tuple[float, float, float, float]:
        return _line(x, [math.log(v - c) for v in loss])

    floor = min(loss)
    if irreducible == "fit":
        grid = [floor * (1 - 10 ** (-e / 20)) for e in range(1, 121)]  # dense towards min L
        c = min([0.0, *grid], key=lambda c: at(c)[3])
        params = 3
    else:
        c = float(irreducible or 0.0)
        if c >= floor:
            raise ValueError(f"irreducible loss {c:.4g} is not below every measured loss (min {floor:.4g})")
        params = 2
    b0, b1, se, sse = at(c)
    dof = len(n) - params
    t = T975.get(dof, 1.96) if dof > 0 else float("nan")
    return PowerLawFit(
        a=math.exp(b0),
        alpha=-b1,
        alpha_stderr=se if dof > 0 else float("nan"),
        alpha_ci95=t * se if dof > 0 else float("nan"),
        c=c,
        dof=dof,
        rmse_log=math.sqrt(sse / len(n)),
        irreducible="fit" if irreducible == "fit" else ("known" if irreducible else "zero"),
    )


def power_law(n: float, fit: PowerLawFit) -> float:
    return fit.a * n ** (-fit.alpha) + fit.c


def run_scaling(
    config: ScalingConfig | None = None,
    observers: Observers = no_observers,
    on_point: Callable[[ScalingPoint], None] | None = None,
) -> ScalingResult:
    """Train each width under the same budget (one ``ScalingPoint`` each, handed to ``on_point`` as it
    lands), then fit the power law each way c can be chosen."""
    config = config or ScalingConfig()
    flats = [config.run_config(config.run_flat(w)) for w in config.widths]  # refuse bad settings up front
    tokens = config.steps * config.batch_size * config.seq_len
    points, bayes, blind = [], None, None
    t0 = time.perf_counter()
    for width, cfg in zip(config.widths, flats, strict=True):
        trainer = Trainer(cfg, observers(f"gpt d={width}"))
        result = trainer.run()
        n = non_embedding_params(trainer.model)
        point = ScalingPoint(
            width=width,
            params=result.params,
            non_embedding_params=n,
            loss=result.final_loss,
            accuracy=result.metrics.get("accuracy"),
            seconds=result.seconds,
            compute=6.0 * n * tokens,
            status=result.status,
        )
        points.append(point)
        if bayes is None:
            bayes = trainer.task.bayes(trainer.eval_batch)["loss"]  # the same held-out batch for every size
            blind = result.baseline_loss
        if on_point:
            on_point(point)
    finite = [p for p in points if p.loss is not None and math.isfinite(p.loss)]
    fits = {}
    for mode, c in (("bayes", bayes), ("fit", "fit"), ("none", None)):
        try:
            fits[mode] = fit_power_law([p.non_embedding_params for p in finite], [p.loss for p in finite], c)
        except ValueError as e:
            fits[mode] = PowerLawFit(error=str(e))
    return ScalingResult(
        config=config.model_dump(),
        points=points,
        fit=fits[config.irreducible],
        fits=fits,
        bayes_loss=bayes,
        blind_loss=blind,
        tokens=tokens,
        seconds=time.perf_counter() - t0,
    )
