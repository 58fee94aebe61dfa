"""Few-shot learning in context (Brown et al. 2020): more examples in the prompt, better answers,
with no gradient step.

GPT-3's few-shot results (Brown et al. 2020, Fig. 1.2 and §3) score a frozen model on tasks defined
only by k demonstrations in its context; accuracy rises with k. Here a ``gpt`` trains on the
``fewshot`` task — k key→value examples of a mapping drawn afresh for every sequence, then queries —
with k mixed between 1 and ``train_max``. Then, frozen, it answers held-out sequences at each single
k = 1 … ``eval_max``: every mapping it sees there is new, so whatever it gets right it read from the
context. Past ``train_max`` it faces more examples than it ever saw in training (rotary positions,
the default, let it read the longer sequences; learned positions cannot).

Next to the measured accuracy: chance (1/V) and the ideal in-context learner (right whenever an
example answers the query, a guess otherwise), computed on the same held-out sequences.

Measured with the defaults (``python -m seqlab fewshot``, 1 CPU thread, ~25 s): held-out accuracy
0.18 / 0.34 / 0.55 at k = 1 / 4 / 8 (trained range), 0.78 / 0.95 at k = 12 / 16 (beyond it), against
0.17 / 0.33 / 0.55 / 0.79 / 1.00 for the ideal in-context learner and 0.125 chance.

How far the toy goes: the skill here is one mechanism (find the matching key, copy the value after
it — an induction head, Olsson et al. 2022) learned in a minute, not GPT-3's open-ended tasks; and
GPT-3 never trained on its few-shot format, while this model trained on exactly this one. What
carries over: a mapping absent from the weights is learned from the prompt alone, better with more
examples, and the skill extends to prompts longer than any seen in training.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Literal

import torch
from pydantic import Field

from ..train.engine import Trainer
from .base import ExperimentConfig, Observers, history, no_observers

EVAL_SEED = 2_147_483_563  # held-out sequences at each k: their own fixed stream


class FewShotConfig(ExperimentConfig):
    section = "fewshot"
    key_vocab: int = Field(16, ge=2, le=10_000, description="distinct keys K")
    value_vocab: int = Field(8, ge=2, le=10_000, description="distinct values V (chance = 1/V)")
    groups: int | None = Field(
        None, ge=1, le=10_000, description="key groups sharing a value (default: every key alone)"
    )
    queries: int = Field(4, ge=1, le=1000, description="queries per sequence")
    train_max: int = Field(8, ge=1, le=10_000, description="most in-context examples in training (k from 1)")
    eval_max: int = Field(16, ge=1, le=10_000, description="evaluate k = 1 … eval_max")
    hidden: int = Field(32, ge=2, le=1024, description="hidden size d")
    # two layers: an induction head needs one layer to mark each value with its key, one to look it up
    layers: int = Field(2, ge=1, le=16, description="Transformer blocks")
    heads: int = Field(4, ge=1, le=64, description="attention heads")
    # rotary positions extend to prompts longer than those trained on (Su et al. 2021)
    pos: Literal["rope", "sinusoidal", "learned"] = Field("rope", description="positional encoding")
    steps: int = Field(2000, ge=1, le=1_000_000, description="training steps")
    batch_size: int = Field(32, ge=1, le=4096)
    lr: float = Field(3e-3, gt=0, le=1, description="Adam learning rate")
    eval_size: int = Field(512, ge=1, le=65_536, description="held-out sequences per k")
    seed: int = Field(0, ge=0, le=2**31 - 1)

    def check(self) -> None:
        if self.hidden % self.heads:
            raise self.error(f"{self.heads} heads do not divide hidden={self.hidden}", "heads")
        if self.train_max > self.key_vocab:
            raise self.error(
                f"{self.train_max} examples need {self.train_max} distinct keys (key_vocab={self.key_vocab})",
                "train_max",
            )
        if self.eval_max > self.key_vocab:
            raise self.error(
                f"{self.eval_max} examples need {self.eval_max} distinct keys (key_vocab={self.key_vocab})", "eval_max"
            )
        if self.pos == "learned" and self.eval_max > self.train_max:
            raise self.error(
                f"learned positions cannot read prompts longer than trained (train_max={self.train_max}); "
                "use --pos rope or lower --eval-max",
                "eval_max",
            )

    def total_steps(self) -> int:
        return self.steps

    def run_flat(self) -> dict:
        return {
            "model": "gpt",
            "task": "fewshot",
            "seq_len": self.train_max,
            "min_len": 1,
            "key_vocab": self.key_vocab,
            "value_vocab": self.value_vocab,
            "groups": self.groups,
            "queries": self.queries,
            "hidden": self.hidden,
            "layers": self.layers,
            "heads": self.heads,
            "pos": self.pos,
            "steps": self.steps,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "eval_every": max(1, self.steps // 20),
            "eval_size": self.eval_size,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class ShotRow:
    """Held-out scores at one number of in-context examples k."""

    k: int
    accuracy: float
    loss: float
    ideal: float  # the ideal in-context learner on the same sequences
    chance: float
    trained: bool  # k within the numbers of examples seen in training


@dataclass(frozen=True)
class FewShotResult:
    config: dict
    rows: list[ShotRow]
    train_max: int
    chance: float
    params: int
    status: str
    history: dict  # base.history of the training (held-out over mixed k)
    seconds: float

    def to_json(self) -> dict:
        return asdict(self)


@torch.no_grad()
def accuracy_by_shots(model, task, shots: list[int], size: int, device=None) -> list[ShotRow]:
    """Held-out accuracy of ``model`` at each single number of in-context examples k, with the ideal
    in-context learner's accuracy and chance on the same sequences."""
    rows = []
    was_training = model.training
    model.eval()
    try:
        for k in shots:
            t = task.at_length(k)
            batch = t.sample(size, torch.Generator().manual_seed(EVAL_SEED + k))
            out = model(batch if device is None else batch.to(device))
            pred = out.pred.cpu()
            rows.append(
                ShotRow(
                    k=k,
                    accuracy=t.evaluate(pred, batch)["accuracy"],
                    loss=t.loss(pred, batch).item(),
                    ideal=t.ideal(batch),
                    chance=1.0 / t.options.value_vocab,
                    trained=k <= task.seq_len,
                )
            )
    finally:
        model.train(was_training)
    return rows


def run_fewshot(config: FewShotConfig | None = None, observers: Observers = no_observers) -> FewShotResult:
    """Train, then score the frozen model at k = 1 … eval_max (one ``ShotRow`` per k)."""
    config = config or FewShotConfig()
    cfg = config.run_config(config.run_flat())
    t0 = time.perf_counter()
    trainer = Trainer(cfg, observers("gpt, few-shot in context"))
    result = trainer.run()
    rows = accuracy_by_shots(
        trainer.model, trainer.task, list(range(1, config.eval_max + 1)), config.eval_size, trainer.device
    )
    return FewShotResult(
        config=config.model_dump(),
        rows=rows,
        train_max=config.train_max,
        chance=1.0 / config.value_vocab,
        params=result.params,
        status=result.status,
        history=history(trainer),
        seconds=time.perf_counter() - t0,
    )
