"""Speed measurements printed as ratios from one run (this machine is shared and noisy, so a
ratio of interleaved medians is the number to trust, not an absolute time)."""

from __future__ import annotations

import statistics
import time

from .config import RunConfig
from .models.registry import MODELS, incompatibility
from .tasks.registry import make_task
from .train.bare import bare_step
from .train.engine import Trainer


def _block(fn, k: int) -> float:
    t = time.perf_counter()
    for _ in range(k):
        fn()
    return (time.perf_counter() - t) / k * 1000


def bench_steps(
    models=None,
    layers: int = 1,
    task: str = "parity",
    seq_len: int = 50,
    hidden: int = 64,
    batch_size: int = 32,
    rounds: int = 15,
    block: int = 5,
    warmup: int = 10,
) -> list[dict]:
    """Per model: bare_ms, instrumented_ms (the engine's logged step: grad-by-time + record +
    observers), medians of interleaved blocks run in alternating order, and ``ratio``."""
    t = make_task(task, seq_len)
    names = models or [m for m, cls in MODELS.items() if incompatibility(cls, t) is None]
    rows = []
    for name in names:
        cfg = RunConfig.from_flat(
            {
                "model": name,
                "task": task,
                "seq_len": seq_len,
                "hidden": hidden,
                "batch_size": batch_size,
                "layers": layers,
                "device": "cpu",
                "log_every": 1,
            }
        )
        bare, instr = Trainer(cfg), Trainer(cfg)
        t0 = time.perf_counter()
        for _ in range(warmup):
            bare_step(bare)
            instr.advance(t0)
        runners = [(lambda tr=bare: bare_step(tr), []), (lambda tr=instr, t=t0: tr.advance(t), [])]
        for r in range(rounds):
            for fn, times in runners if r % 2 == 0 else runners[::-1]:
                times.append(_block(fn, block))
        b_ms, i_ms = runners[0][1], runners[1][1]
        # the ratio is the median of per-round ratios: each pair ran back to back, so slow drifts in
        # machine load (other processes) cancel instead of landing on one side
        ratio = statistics.median(i / b for i, b in zip(i_ms, b_ms, strict=True))
        rows.append(
            {
                "model": name,
                "bare_ms": statistics.median(b_ms),
                "instrumented_ms": statistics.median(i_ms),
                "ratio": ratio,
            }
        )
    return rows


def bench_diagnostics(
    model: str = "lstm",
    task: str = "parity",
    seq_len: int = 50,
    hidden: int = 64,
    batch_size: int = 32,
    rounds: int = 20,
    block: int = 20,
) -> list[dict]:
    """Each deep diagnostic's cost as a ratio to the bare step, at its default cadence (blocks of
    ``block`` steps, so a probe that runs every k steps is amortised as in a real run)."""
    from .diagnostics.attention import AttentionRecorder
    from .diagnostics.recurrent import HiddenGradProbe, ParamGradNorms

    diagnostics = {
        "grad-by-time (engine)": lambda: [],
        "exact dL/dh_t + gates (every 50 steps, 4 sequences)": lambda: [HiddenGradProbe(every=50)],
        "parameter grad norms (every 10 steps)": lambda: [ParamGradNorms(every=10)],
        "attention maps (every evaluation)": lambda: [AttentionRecorder()],
    }
    cfg = RunConfig.from_flat(
        {"model": model, "task": task, "seq_len": seq_len, "hidden": hidden, "batch_size": batch_size, "device": "cpu"}
    )
    rows = []
    for name, make in diagnostics.items():
        bare, instr = Trainer(cfg), Trainer(cfg, make())
        for obs in instr.observers:
            obs.on_start(instr)
        t0 = time.perf_counter()

        def watched(tr=instr, t=t0):
            rec = tr.advance(t)
            if tr.steps_done % tr.config.train.eval_every == 0:
                tr._eval_record(t)
            return rec

        def plain(tr=bare):
            bare_step(tr)
            tr.steps_done += 1
            if tr.steps_done % tr.config.train.eval_every == 0:
                tr.evaluate()

        for _ in range(5):
            plain()
            watched()
        runners = [(plain, []), (watched, [])]
        for r in range(rounds):
            for fn, times in runners if r % 2 == 0 else runners[::-1]:
                times.append(_block(fn, block))
        ratio = statistics.median(i / b for i, b in zip(runners[1][1], runners[0][1], strict=True))
        rows.append(
            {
                "diagnostic": name,
                "model": model,
                "bare_ms": statistics.median(runners[0][1]),
                "with_ms": statistics.median(runners[1][1]),
                "ratio": ratio,
            }
        )
    return rows


COMPLEXITY_MODELS = ("rnn", "lstm", "gru", "gpt")  # the set: recurrent layers and a Transformer layer
COMPLEXITY_LENGTHS = (64, 128, 256, 512, 1024, 2048)


def bench_complexity(d: int = 64, batch_size: int = 8) -> list[dict]:
    """The full sweep (n = 64 … 2048; RNN, LSTM, GRU and a one-layer Transformer at d = 64, batch 8, as the
    CLI's default), timed with time + FLOPs only and with every metric, then the attention operation alone;
    each time/FLOP exponent's distance from theory (target: within ±0.15 for the recurrent models and the
    attention op; a Transformer layer's FLOPs include its n·d² projections, so it sits below 2)."""
    from .complexity.sweep import structure_at, sweep

    rows = []
    for models, metrics in (
        (COMPLEXITY_MODELS, ("time", "flops")),
        (COMPLEXITY_MODELS, ("time", "flops", "memory", "graph")),
        (("attention-op",), ("time", "flops")),
    ):
        structure_at.cache_clear()  # measure the tracing too, not a cached answer
        t = time.perf_counter()
        out = sweep(list(models), list(COMPLEXITY_LENGTHS), d, batch_size, metrics=metrics)
        seconds = time.perf_counter() - t
        fits = {
            f"{f.model}:{f.metric}": round(f.exponent - f.theory, 3) for f in out.fits if f.metric in ("ms", "flops")
        }
        rows.append(
            {
                "models": ",".join(models),
                "metrics": ",".join(metrics),
                "seconds": seconds,
                "exponent_minus_theory": fits,
            }
        )
    return rows


def _interleaved_ms(trainers: dict, rounds: int) -> dict[str, float]:
    """Median CPU ms of one training step per trainer, the trainers alternating round by round (CPU time
    with one thread: the machine is shared, and other processes' load would inflate wall time)."""
    times: dict[str, list[float]] = {k: [] for k in trainers}
    for tr in trainers.values():
        bare_step(tr)
    for r in range(rounds):
        for k, tr in trainers.items() if r % 2 == 0 else reversed(trainers.items()):
            t = time.process_time()
            bare_step(tr)
            times[k].append((time.process_time() - t) * 1000)
    return {k: statistics.median(v) for k, v in times.items()}


SSM_LENGTHS = (64, 128, 256, 512, 1024, 2048)


def bench_ssm(n: int = 256, d: int = 64, state: int = 16, rounds: int = 9) -> dict:
    """The selective SSM's training step with the chunked parallel scan against the step-by-step loop (parity at
    n, d, N, batch 8; and the issue's recall setting: 12 pairs, 2 layers), then the chunked step's time
    exponent over n = 64 … 2048 (the complexity sweep's timing)."""
    from .complexity.sweep import fit_slope

    def trainer(flat: dict) -> Trainer:
        return Trainer(RunConfig.from_flat({"hidden": d, "device": "cpu", **flat}))

    parity = {"model": "selective-ssm", "task": "parity", "seq_len": n, "batch_size": 8, "state_size": state}
    chunks = (16, 32, 64, 128)
    step = _interleaved_ms(
        {
            "loop": trainer({**parity, "scan": "sequential"}),
            **{f"chunked L={c}": trainer({**parity, "scan_chunk": c}) for c in chunks},
        },
        rounds,
    )
    recall = {"task": "recall", "seq_len": 12, "layers": 2}
    recall_ms = _interleaved_ms(
        {
            "loop": trainer({**recall, "model": "selective-ssm", "scan": "sequential", "state_size": state}),
            "chunked": trainer({**recall, "model": "selective-ssm", "state_size": state}),
            "s4d": trainer({**recall, "model": "ssm"}),
            "gpt": trainer({**recall, "model": "gpt"}),
        },
        rounds,
    )
    ms = [_interleaved_ms({"chunked": trainer({**parity, "seq_len": m})}, 3)["chunked"] for m in SSM_LENGTHS]
    slope, err = fit_slope(list(SSM_LENGTHS), ms)
    return {
        "n": n,
        "d": d,
        "state": state,
        "step_ms": step,
        "speedup": {k: step["loop"] / v for k, v in step.items() if k != "loop"},
        "recall_ms": recall_ms,
        "recall_speedup": recall_ms["loop"] / recall_ms["chunked"],
        "lengths": list(SSM_LENGTHS),
        "chunked_ms": ms,
        "time_exponent": slope,
        "time_exponent_stderr": err,
    }
