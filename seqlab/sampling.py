"""Sampling text from a trained causal character model, and a recorder that samples while it trains.

    p(x_{t+1} = c | x_≤t) ∝ exp(z_c / τ)  over the k most likely characters (top-k), 0 elsewhere

τ → 0 approaches greedy decoding (always the most likely character); τ = 1 samples the model's own
distribution; larger τ flattens it. Top-k (Fan, Lewis & Dauphin 2018) keeps only the k most likely
characters, so rare mistakes are never drawn. Generation is seeded, so a sample is reproducible.
The model reads at most the task's context length (the last T characters) at each step.
"""

from __future__ import annotations

import threading

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError
from .tasks.base import Batch
from .train.observers import Observer


class SamplingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    prompt: str = Field("the ", max_length=1000, description="text the sample continues (characters of the corpus)")
    length: int = Field(200, ge=1, le=5000, description="characters to generate")
    temperature: float = Field(0.8, gt=0, le=100, allow_inf_nan=False, description="τ > 0; small = near greedy")
    top_k: int | None = Field(None, ge=1, description="sample among the k most likely characters (None = all)")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="random seed of the sample")

    @classmethod
    def build(cls, **values) -> SamplingConfig:
        try:
            return cls.model_validate({k: v for k, v in values.items() if v is not None or k == "top_k"})
        except ValidationError as e:
            from .config import describe_validation_error

            raise ConfigError(describe_validation_error(e, prefix="sampling")) from None


def check_samplable(model, task) -> None:
    """Only a causal model (as its capabilities declare) predicting the next token of a text can be sampled from."""
    if not hasattr(task, "encode") or task.output_kind != "tokens":
        raise ConfigError(f"task '{task.name}' is not a text to continue; train on the chars task", "task.name")
    if not model.capabilities.causal:
        raise ConfigError(
            f"{model.info.title} is not a causal model: it reads the characters after position t too, so it cannot "
            "write one character at a time; sample from gpt or a recurrent model",
            "model.name",
        )


@torch.no_grad()
def sample_text(model, task, config: SamplingConfig) -> str:
    """``config.length`` characters continuing ``config.prompt`` (the prompt is not repeated)."""
    check_samplable(model, task)
    V = task.spec.n_outputs
    if config.top_k is not None and config.top_k > V:
        raise ConfigError(f"must be ≤ the alphabet size {V} (got {config.top_k})", "sampling.top_k")
    ids = task.encode(config.prompt)  # ConfigError on characters the corpus never uses
    if len(ids) == 0:
        ids = torch.randint(0, V, (1,), generator=torch.Generator().manual_seed(config.seed))
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(config.seed)
    context, out = ids.to(device), []
    was = model.training
    model.eval()
    try:
        for _ in range(config.length):
            window = context[-task.seq_len :][None]  # (1, ≤T)
            logits = model(Batch(window, window)).pred[0, -1] / config.temperature  # (V,)
            if config.top_k is not None:
                kth = logits.topk(config.top_k).values[-1]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            nxt = torch.multinomial(logits.softmax(-1), 1, generator=generator)
            context = torch.cat([context, nxt])
            out.append(int(nxt))
    finally:
        model.train(was)
    return task.decode(out)


class SampleRecorder(Observer):
    """A sample of the model's text at held-out evaluations (every ``every``-th), for a page to show
    the text improving as the loss falls. Runs in the training thread."""

    name = "samples"

    def __init__(self, config: SamplingConfig | None = None, every: int = 1, keep: int = 30):
        self.config = config or SamplingConfig(length=160)
        self.every, self.keep = every, keep
        self.samples: list[tuple[int, str]] = []
        self.note = ""  # why the samples continue another prompt than the one asked for
        self._evals = 0
        self._lock = threading.Lock()

    def on_start(self, trainer) -> None:
        self.trainer = trainer
        check_samplable(trainer.model, trainer.task)
        self.note = ""
        try:
            trainer.task.encode(self.config.prompt)
        except ConfigError:  # a display setting must not fail the training: continue the corpus's own start
            fallback = trainer.task.default_prompt
            self.note = (
                f"The prompt {self.config.prompt!r} uses characters this corpus never does; "
                f"the samples continue {fallback!r} instead."
            )
            self.config = self.config.model_copy(update={"prompt": fallback})
        self.record(0)

    def record(self, step: int) -> None:
        text = sample_text(self.trainer.model, self.trainer.task, self.config)
        with self._lock:
            self.samples.append((step, text))
            if len(self.samples) > self.keep:
                del self.samples[1]  # keep the first (untrained) sample and the latest ones

    def on_eval(self, record) -> None:
        self._evals += 1
        if self._evals % self.every == 0:
            self.record(record.step)

    def snapshot(self) -> list[tuple[int, str]]:
        with self._lock:
            return list(self.samples)

    def assess(self, text: str) -> dict | None:
        """The task's judgement of a sample (e.g. grammatical sentences), or None when it has none."""
        assess = getattr(self.trainer.task, "assess", None)
        return assess(self.config.prompt, text) if assess else None
