"""The classic results, reproduced with default settings, as one command:

    python -m seqlab classics [--json]

1. LSTM solves the adding problem at T=100 while a tanh RNN stays at the baseline
   (Hochreiter & Schmidhuber 1997, experiment 4).
2. LSTM solves copy with a delay of 20 while the RNN stays at chance.
3. The RNN's ‖∂L/∂x_t‖ vanishes with distance from the loss (Bengio, Simard & Frasconi 1994).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .config import RunConfig
from .train.engine import Trainer
from .train.observers import Observer
from .train.records import RunResult


@dataclass(frozen=True)
class Classic:
    key: str
    claim: str
    task: dict  # flat task settings; every other setting is the default


CLASSICS = (
    Classic(
        "adding",
        "LSTM solves adding at T=100 (MSE < 0.05 × baseline); the tanh RNN stays at the baseline",
        {"task": "adding", "seq_len": 100},
    ),
    Classic(
        "copy",
        "LSTM solves copy with delay 20 (accuracy ≥ 0.99); the tanh RNN stays near chance",
        {"task": "copy", "delay": 20},
    ),
)


def _solved(r: RunResult) -> bool:
    if "mse" in r.metrics:
        return r.metrics["mse"] < 0.05 * r.baseline_loss
    return r.metrics.get("accuracy", 0) >= 0.99


def run_classics(observers: Callable[[str], Iterable[Observer]] = lambda name: ()) -> list[dict]:
    rows = []
    for c in CLASSICS:
        res = {}
        for model in ("lstm", "rnn"):
            stop = "mse=" + str(0.05 * 1 / 6) if c.task["task"] == "adding" else "accuracy=0.99"
            cfg = RunConfig.from_flat({"model": model, **c.task, "until": stop})
            res[model] = Trainer(cfg, observers(f"{model} {c.key}")).run()
        lstm, rnn = res["lstm"], res["rnn"]
        g = rnn.grad_norm_by_time
        rows.append(
            {
                "classic": c.key,
                "claim": c.claim,
                "lstm_solved": _solved(lstm),
                "rnn_solved": _solved(rnn),
                "lstm_seconds": lstm.seconds,
                "lstm_seconds_to_target": lstm.seconds_to_target,
                "rnn_seconds": rnn.seconds,
                "lstm_metrics": lstm.metrics,
                "rnn_metrics": rnn.metrics,
                "baseline_metrics": lstm.baseline_metrics,
                "rnn_grad_first_over_last": g[0] / g[-1] if g and g[-1] else None,
                "reproduced": _solved(lstm) and not _solved(rnn),
            }
        )
    return rows
