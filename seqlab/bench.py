"""Speed measurements printed as ratios from one run (this machine is shared and noisy, so a
ratio of interleaved medians is the number to trust, not an absolute time)."""

from __future__ import annotations

import os
import statistics
import time

import torch

from .complexity.clock import machine_load
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


COMPLEXITY_TARGET_S = 10.0  # issue #18: the command below, start-up included, with nothing kept on disk


def complexity_command(d: int = 64, batch_size: int = 8) -> list[str]:
    """The issue's command line: the full time + FLOPs sweep, every point measured (``--fresh``)."""
    lengths = ",".join(map(str, COMPLEXITY_LENGTHS))
    return [
        *("complexity", "--models", ",".join(COMPLEXITY_MODELS), "--lengths", lengths, "--metrics", "time,flops"),
        *("--d", str(d), "--batch-size", str(batch_size), "--fresh", "--quiet", "--json"),
    ]


def time_complexity_command(d: int = 64, batch_size: int = 8) -> dict:
    """``python -m seqlab complexity …`` run as a user runs it (a new process: Python, torch and seqlab start
    up) over an empty ``SEQLAB_HOME``: wall seconds, the CPU seconds the process used (what the wall time
    would be alone on the machine, near enough: it measures with one thread) and its fitted exponents."""
    import json
    import os
    import resource
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as home:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "seqlab", *complexity_command(d, batch_size)],
            env={**os.environ, "SEQLAB_HOME": home},
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "command": "python -m seqlab " + " ".join(complexity_command(d, batch_size)),
        "seconds": wall,
        "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "sweep_seconds": out["seconds"],
        "target_seconds": COMPLEXITY_TARGET_S,
        "exponents": {f"{f['model']}:{f['metric']}": round(f["exponent"], 3) for f in out["fits"]},
    }


def bench_complexity(d: int = 64, batch_size: int = 8) -> list[dict]:
    """The full sweep (n = 64 … 2048; RNN, LSTM, GRU and a one-layer Transformer at d = 64, batch 8, as the
    CLI's default), timed with time + FLOPs only and with every metric, then the attention operation alone;
    each time/FLOP exponent's distance from theory (target: within ±0.15 for the recurrent models and the
    attention op; a Transformer layer's FLOPs include its n·d² projections, so it sits below 2). Every point is
    measured (``fresh``), none read from the disk cache. Then the time + FLOPs sweep as a command, start-up
    included (``time_complexity_command``; target < 10 s)."""
    from .complexity.sweep import structure_at, sweep

    rows = []
    for models, metrics in (
        (COMPLEXITY_MODELS, ("time", "flops")),
        (COMPLEXITY_MODELS, ("time", "flops", "memory", "graph")),
        (("attention-op",), ("time", "flops")),
    ):
        structure_at.cache_clear()  # measure the tracing too, not a cached answer
        t = time.perf_counter()
        out = sweep(list(models), list(COMPLEXITY_LENGTHS), d, batch_size, metrics=metrics, fresh=True)
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
    rows.append(time_complexity_command(d, batch_size))
    return rows


def _interleaved_ms(runs: dict, rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median CPU ms and wall ms of one call per entry (a Trainer: one training step; or a function), the
    entries alternating round by round. CPU time with one thread is the number to trust on a shared machine
    (other processes' load inflates wall time); wall time is shown next to it."""
    calls = {k: (lambda tr=v: bare_step(tr)) if isinstance(v, Trainer) else v for k, v in runs.items()}
    cpu: dict[str, list[float]] = {k: [] for k in calls}
    wall: dict[str, list[float]] = {k: [] for k in calls}
    for fn in calls.values():
        fn()
    for r in range(rounds):
        for k, fn in calls.items() if r % 2 == 0 else reversed(calls.items()):
            c, w = time.process_time(), time.perf_counter()
            fn()
            cpu[k].append((time.process_time() - c) * 1000)
            wall[k].append((time.perf_counter() - w) * 1000)
    return {k: statistics.median(v) for k, v in cpu.items()}, {k: statistics.median(v) for k, v in wall.items()}


SSM_LENGTHS = (64, 128, 256, 512, 1024, 2048)


def _scan_alone(n: int, d: int, state: int, batch: int, sequential: bool):
    """One forward + backward of the scan by itself on random inputs of a training step's shapes."""
    from .models.ssm import selective_scan, selective_scan_sequential

    g = torch.Generator().manual_seed(0)
    dt = torch.nn.functional.softplus(torch.randn(batch, n, d, generator=g) - 2)
    A = -torch.arange(1, state + 1.0).repeat(d, 1)
    B, C = torch.randn(batch, n, state, generator=g), torch.randn(batch, n, state, generator=g)
    x = torch.randn(batch, n, d, generator=g)
    inputs = [t.requires_grad_() for t in (dt, A, B, C, x)]
    g_y = torch.randn(batch, n, d, generator=g)
    scan = selective_scan_sequential if sequential else selective_scan
    return lambda: torch.autograd.grad(scan(*inputs), inputs, g_y)


def _state_pass(n: int, d: int, state: int, batch: int):
    """One elementwise product over the scan's whole state (batch × n × N × d floats), in the per-step slices
    the two-level scan works on: the unit its every forward and backward line costs (``bench_ssm``)."""
    from .models.ssm import auto_chunk

    L = auto_chunk(n)
    K = -(-n // L)
    a, s, out = ([torch.rand(batch, K, state, d) for _ in range(L)] for _ in range(3))
    return lambda: [torch.mul(a_j, s_j, out=o_j) for a_j, s_j, o_j in zip(a, s, out, strict=True)]


def _no_scan(dt, A, B, C, x, chunk=None):
    """A stand-in for the scan costing O(B·n·(d + N)) that still sends a gradient to every input: a training
    step with it is the part of the step no scan can speed up."""
    return dt * x + torch.linalg.vecdot(B, C)[..., None] + A.sum()


def _without_scan(tr: Trainer):
    from .models import ssm

    def step():
        real, ssm.selective_scan = ssm.selective_scan, _no_scan
        try:
            bare_step(tr)
        finally:
            ssm.selective_scan = real

    return step


def bench_ssm(n: int = 256, d: int = 64, state: int = 16, rounds: int = 9) -> dict:
    """The selective SSM's training step with the two-level scan (L ≈ √n, and fixed L) against the step-by-step
    loop (parity at n, d, N, batch 8; and the issue's recall setting: 12 pairs, 2 layers), and the same step with
    a trivial stand-in for the scan (what no scan can speed up); the scan alone (forward + backward); then the
    two-level step's time exponent over n = 64 … 2048 (the complexity sweep's timing)."""
    from .complexity.sweep import fit_slope

    def trainer(flat: dict) -> Trainer:
        # bare steps never evaluate: the default held-out batch (256) at n ≥ 512 would be refused by the memory
        # estimate for an evaluation that never runs
        return Trainer(RunConfig.from_flat({"hidden": d, "device": "cpu", "eval_size": 8, **flat}))

    parity = {"model": "selective-ssm", "task": "parity", "seq_len": n, "batch_size": 8, "state_size": state}
    chunks = (8, 16, 32, 64)
    step, step_wall = _interleaved_ms(
        {
            "loop": trainer({**parity, "scan": "sequential"}),
            "two-level": trainer(parity),
            **{f"L={c}": trainer({**parity, "scan_chunk": c}) for c in chunks},
            "no scan": _without_scan(trainer(parity)),
        },
        rounds,
    )
    rest = step.pop("no scan")  # embedding, projections, conv, gates, norm, head, loss, Adam: all but the scan
    step_wall.pop("no scan")
    scan, _ = _interleaved_ms(
        {
            "loop": _scan_alone(n, d, state, 8, True),
            "two-level": _scan_alone(n, d, state, 8, False),
            "state pass": _state_pass(n, d, state, 8),
        },
        rounds,
    )
    state_pass = scan.pop("state pass")
    # what a scan may cost inside the step for the step to be 5× faster than the loop's, in passes over
    # the state: the forward alone makes four (the decays e^{Δ_t A}, the update's product and sum, the readout)
    scan_budget = step["loop"] / 5 - rest
    recall = {"task": "recall", "seq_len": 12, "layers": 2}
    recall_ms, _ = _interleaved_ms(
        {
            "loop": trainer({**recall, "model": "selective-ssm", "scan": "sequential", "state_size": state}),
            "two-level": trainer({**recall, "model": "selective-ssm", "state_size": state}),
            "s4d": trainer({**recall, "model": "ssm"}),
            "gpt": trainer({**recall, "model": "gpt"}),
        },
        rounds,
    )
    sweep = []
    for m in SSM_LENGTHS:
        tr = trainer({**parity, "seq_len": m})
        runs = {"step": tr, "no scan": _without_scan(tr), "scan": _scan_alone(m, d, state, 8, False)}
        # 5 rounds, not 3: on a loaded machine a median of 3 moved the fitted exponent by ±0.1 run to run
        sweep.append(_interleaved_ms(runs, 5)[0])
    ms = [r["step"] for r in sweep]
    slope, err = fit_slope(list(SSM_LENGTHS), ms)
    # a step has fixed costs (optimizer, sampling, the interpreter) that flatten its fitted exponent below 1
    # however linear the scan: the step with a free scan and the scan alone show which part bends the curve
    rest_slope, _ = fit_slope(list(SSM_LENGTHS), [r["no scan"] for r in sweep])
    scan_slope, scan_err = fit_slope(list(SSM_LENGTHS), [r["scan"] for r in sweep])
    return {
        "n": n,
        "d": d,
        "state": state,
        "step_ms": step,
        "step_wall_ms": step_wall,
        "speedup": {k: step["loop"] / v for k, v in step.items() if k != "loop"},
        "scan_ms": scan,
        "scan_speedup": scan["loop"] / scan["two-level"],
        "rest_ms": rest,
        "speedup_if_scan_were_free": step["loop"] / rest,
        "state_pass_ms": state_pass,
        "scan_budget_ms_for_5x": scan_budget,
        "recall_ms": recall_ms,
        "recall_speedup": recall_ms["loop"] / recall_ms["two-level"],
        "lengths": list(SSM_LENGTHS),
        "two_level_ms": ms,
        "time_exponent": slope,
        "time_exponent_stderr": err,
        "no_scan_ms": [r["no scan"] for r in sweep],
        "no_scan_time_exponent": rest_slope,
        "scan_alone_ms": [r["scan"] for r in sweep],
        "scan_alone_time_exponent": scan_slope,
        "scan_alone_time_exponent_stderr": scan_err,
    }


# the bench's sweep: 3 models × 2 lengths × 4 seeds = 24 short runs (~2 s each alone on a quiet box: long
# enough that a pool's start-up, ~2.5 s, and Ray's, ~8 s, are part of the cost, not all of it)
SWEEP_BASE = {"task": "adding", "hidden": 32, "steps": 500, "eval_every": 100, "eval_size": 128}
SWEEP_GRID = {"model": ["rnn", "lstm", "gru"], "seq_len": ["20", "40"]}
SWEEP_SEEDS = [0, 1, 2, 3]


def bench_sweep(ray: bool = True) -> dict:
    """Wall time of the same 24 runs one after another in this process, on a 2-worker local pool, and as
    Ray tasks on a fresh local Ray (2 CPUs) — start-up included for both, each in its own empty store so
    nothing is resumed. Targets: pool ≥ 1.7× faster than serial; Ray ≤ 1.3× the pool's time.

    Every backend runs one torch thread per run (the serial one too: a fair baseline is the workers' own
    setting, not two threads that these small ops do not use well). ``breakdown`` splits each wall time:
    ``startup`` (Ray's ``ray.init``, before any task), ``training`` (the runs' own seconds, summed) and
    ``overhead`` = wall − startup − training / width: what the backend costs beyond training on ``width``
    cores (a pool's worker start-up, a tail where one worker is idle, recording, shipping results)."""
    import tempfile

    from .store import RunStore
    from .sweep import Sweep, plan_sweep

    plan = plan_sweep(SWEEP_BASE, SWEEP_GRID, SWEEP_SEEDS)
    seconds, losses, breakdown = {}, {}, {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            kinds = [("serial", "local", 1), ("pool", "local", 2)] + ([("ray", "ray", None)] if ray else [])
            for name, backend, workers in kinds:
                t = time.perf_counter()
                sweep = Sweep(plan, backend=backend, workers=workers, store=RunStore(f"{tmp}/{name}"))
                sweep.prepare()
                startup = time.perf_counter() - t
                out = sweep.run()
                seconds[name] = time.perf_counter() - t
                results = sorted(out.results, key=lambda r: r.point.index)
                losses[name] = [r.result.get("final_loss") for r in results]
                training = sum(r.result.get("seconds") or 0.0 for r in results)
                width = workers or 2  # the local Ray has 2 CPUs
                breakdown[name] = {
                    "startup": startup,
                    "training": training,
                    "overhead": seconds[name] - startup - training / width,
                }
    finally:
        torch.set_num_threads(threads)
    row = {
        "runs": len(plan.points),
        "seconds": seconds,
        "breakdown": breakdown,
        "pool_speedup": seconds["serial"] / seconds["pool"],
        "same_numbers": all(v == losses["serial"] for v in losses.values()),
        "load": machine_load(),
    }
    if ray:
        row["ray_over_pool"] = seconds["ray"] / seconds["pool"]
    return row


SEARCH_BENCH = {
    "task": "reverse",
    "seq_len": 6,
    "trials": 8,
    "min_steps": 40,
    "eta": 2,
    "budget": 60.0,
    "space": {"families": ["lstm", "gru", "gpt", "ssm"], "hidden": [8, 16, 32, 64], "layers": [1, 2], "heads": [2, 4]},
}


SEARCHES = {"random+SH": 1, "optuna": 1, "optuna, whole budget": 0}  # name -> halving brackets (0: until the budget)
ONE_BRACKET_BUDGET = 3600.0  # never reached: a single bracket of SEARCH_BENCH trains ~20-60 s


def _one_search(name: str, config: dict) -> dict:
    """One search of the benchmark, in a worker process or here: its architectures' latest trials as plain
    numbers, so only data crosses back."""
    import tempfile

    torch.set_num_threads(1)  # ms/step is thread CPU time, comparable at one thread (seqlab.search)
    from .search import Search, SearchConfig, latest_per_architecture
    from .search_baseline import RandomSearch

    cls = RandomSearch if name == "random+SH" else Search
    with tempfile.TemporaryDirectory() as tmp:  # each its own journal: no two processes write one file
        t = time.perf_counter()
        brackets = SEARCHES[name]
        # one bracket runs to its end: a budget cut on a loaded machine would compare cut trainings, not searches
        budget = config["budget"] if brackets == 0 else ONE_BRACKET_BUDGET
        out = cls(SearchConfig.build({**config, "brackets": brackets, "budget": budget, "study_dir": tmp})).run()
        seconds = time.perf_counter() - t
    return {
        "points": [(t.score, t.params, t.ms_per_step) for t in latest_per_architecture(out.trials)],
        "trainings": len(out.trials),
        "best": out.best.label if out.best else None,
        "best_metric": out.best.metric if out.best else None,
        "metric": out.metric,
        "seconds": seconds,
    }


def bench_search(seeds: tuple[int, ...] = tuple(range(6)), config: dict | None = None, workers: int = 2) -> dict:
    """The Optuna search (``seqlab.search``) against the random search it replaced
    (``seqlab.search_baseline``), the same settings and seed for each. Three searches: today's (one
    halving bracket, then it ends), the Optuna search on the same single bracket (as many trainings: the
    sampler and the promotion rule alone differ), and the Optuna search using the whole wall-clock
    ``budget`` (brackets until it ends). The two single brackets always run to their end: on this shared
    machine a 60 s budget cut the final rung of some and not of others (seen: 60.5 s vs 22.4 s for one
    seed's two brackets under load), which compares luck; the old search's one bracket uncut is also the
    most it could give under any budget, so the whole-budget comparison stays fair to it.
    A front is scored by its hypervolume over (held-out score, log10 cost), against a reference point
    shared by a seed's searches: 5 % of the span below the worst score and above the largest cost any of
    them saw.

    Seeds differ more than searches do (one seed's hypervolumes span 0.67–1.01 where the searches differ by
    0.05), so besides each search's mean ± std over seeds the result has the paired difference to
    random+SH, seed by seed. Every search runs serially in its own process, ``workers`` at once (one torch
    thread each, as a search's own pool): the searches are independent, and a search itself on the pool
    would have twice the CPU of the serial baseline in the same wall-clock budget."""
    import math
    from concurrent.futures import ProcessPoolExecutor

    from .search import hypervolume
    from .sweep import stats

    base = {**SEARCH_BENCH, **(config or {})}
    # the longest (whole-budget) searches first, so the pool's two lanes end together
    jobs = [(seed, name) for name in reversed(SEARCHES) for seed in seeds]
    if workers > 1:
        import multiprocessing as mp

        with ProcessPoolExecutor(workers, mp.get_context("forkserver")) as pool:
            futures = {job: pool.submit(_one_search, job[1], {**base, "seed": job[0]}) for job in jobs}
            done = {job: f.result() for job, f in futures.items()}
    else:
        done = {job: _one_search(job[1], {**base, "seed": job[0]}) for job in jobs}
    rows = []
    for seed in seeds:
        results = {name: done[(seed, name)] for name in SEARCHES}
        hv: dict[str, list[float]] = {name: [] for name in SEARCHES}
        for k in (1, 2):  # params, ms/step
            pts = {name: [(p[0], math.log10(p[k])) for p in r["points"]] for name, r in results.items()}
            union = [p for ps in pts.values() for p in ps]
            (s_lo, s_hi), (c_lo, c_hi) = [(min(v), max(v)) for v in zip(*union, strict=True)]
            ref = (s_lo - 0.05 * (s_hi - s_lo or 1), c_hi + 0.05 * (c_hi - c_lo or 1))
            for name, ps in pts.items():
                hv[name].append(hypervolume(ps, ref))
        for name, r in results.items():
            rows.append(
                {
                    "seed": seed,
                    "search": name,
                    "hv_params": hv[name][0],
                    "hv_time": hv[name][1],
                    "trainings": r["trainings"],
                    "architectures": len(r["points"]),
                    "best": r["best"],
                    "best_metric": r["best_metric"],
                    "seconds": r["seconds"],
                }
            )
    keys = ("hv_params", "hv_time")
    by = {(r["seed"], r["search"]): r for r in rows}
    summary = {name: {k: stats([by[(s, name)][k] for s in seeds]) for k in keys} for name in SEARCHES}
    paired = {
        name: {
            k: {
                **stats(d := [by[(s, name)][k] - by[(s, "random+SH")][k] for s in seeds]),
                "wins": sum(x >= 0 for x in d),
            }
            for k in keys
        }
        for name in SEARCHES
        if name != "random+SH"
    }
    mean = {name: {k: summary[name][k]["mean"] for k in keys} for name in SEARCHES}
    return {
        "config": base,
        "seeds": list(seeds),
        "metric": results["random+SH"]["metric"],
        "rows": rows,
        "mean": mean,
        "summary": summary,
        "paired": paired,
    }


def bench_record(
    model: str = "lstm",
    task: str = "parity",
    seq_len: int = 50,
    hidden: int = 64,
    batch_size: int = 32,
    rounds: int = 30,
    block: int = 20,
) -> dict:
    """The engine's logged step with and without the run store's writer (``RunStore.writer``, flushing once a
    second into a temporary database), in interleaved blocks of ``block`` steps, timed in CPU seconds (other
    processes' load inflates wall time). ``ratio`` is total over total, so the once-a-second flushes count (a
    median of blocks would skip them); ``writer_share`` is the time spent inside the writer over the recorded
    steps' time: the cost itself, without the noise of comparing two trainers."""
    import tempfile

    from .store import RunStore

    cfg = RunConfig.from_flat(
        {"model": model, "task": task, "seq_len": seq_len, "hidden": hidden, "batch_size": batch_size, "device": "cpu"}
    )
    with tempfile.TemporaryDirectory(prefix="seqlab-bench-") as home:
        store = RunStore(home)
        writer = store.writer("bench-record", source="bench")
        plain, recorded = Trainer(cfg), Trainer(cfg, [writer])
        writer.on_start(recorded)
        inside = [0.0]
        add = writer.on_step

        def timed(record):
            t = time.process_time()
            add(record)
            inside[0] += time.process_time() - t

        writer.on_step = timed  # the engine looks the method up on the instance
        t0 = time.perf_counter()
        runners = [(lambda: plain.advance(t0), []), (lambda: recorded.advance(t0), [])]
        for fn, _ in runners:
            _block(fn, 5)
        for r in range(rounds):
            for fn, times in runners if r % 2 == 0 else runners[::-1]:
                t = time.process_time()
                for _ in range(block):
                    fn()
                times.append((time.process_time() - t) / block * 1000)
        writer.flush()
        kept = store.summary("bench-record")["steps"]
    p_ms, r_ms = runners[0][1], runners[1][1]
    return {
        "model": model,
        "plain_ms": statistics.median(p_ms),
        "recorded_ms": statistics.median(r_ms),
        "ratio": sum(r_ms) / sum(p_ms),
        "median_block_ratio": statistics.median(r / p for r, p in zip(r_ms, p_ms, strict=True)),
        "writer_share": inside[0] * 1000 / (sum(r_ms) * block),
        "steps_recorded": kept,
    }


def bench_listing(runs: int = 1000, records: int = 20) -> dict:
    """Create ``runs`` finished runs (``records`` step records each) in a temporary database through the
    writer, then time listing all of them: once from a fresh store (opening included) and the median of 5."""
    import tempfile
    from types import SimpleNamespace

    from .store import RunStore
    from .train.records import StepRecord

    trainer = SimpleNamespace(config=RunConfig.from_flat({"model": "lstm", "task": "parity"}), device="cpu")
    with tempfile.TemporaryDirectory(prefix="seqlab-bench-") as home:
        store = RunStore(home)
        t = time.perf_counter()
        for i in range(runs):
            w = store.writer(f"bench-{i:05d}", source="bench", tag="bench" if i % 2 else None)
            w.on_start(trainer)
            for s in range(1, records + 1):
                w.on_step(StepRecord(s, 1.0 / s, 0.5, [0.1] * 50, 0.01 * s))
            w.close("completed")
        create_s = time.perf_counter() - t
        t = time.perf_counter()
        listed = RunStore(home).list()
        first_s = time.perf_counter() - t
        again = []
        for _ in range(5):
            t = time.perf_counter()
            store.list()
            again.append(time.perf_counter() - t)
        t = time.perf_counter()
        filtered = store.list(tag="bench", sort="-steps", limit=50)
        filtered_s = time.perf_counter() - t
    return {
        "runs": len(listed),
        "create_s": create_s,
        "list_first_s": first_s,
        "list_s": statistics.median(again),
        "filtered_50_s": filtered_s,
        "filtered": len(filtered),
    }


def bench_presets(pages=None, margin: float = 0.0, budget: float = 120.0, on_row=None, only=None) -> list[dict]:
    """Every preset of ``pages`` (default: all; ``only``: just these presets) trained headless as its page
    trains it: its runs started together in one ``RunRegistry`` group (so in parallel threads, with the
    registry's split of the cores), the page's observers attached, and a ``LessonWatch`` that stops the
    group ``margin`` seconds after the lesson holds. A preset whose lesson has not held after ``budget``
    seconds is stopped. Per preset: seconds and steps to the lesson, each run's ms per step, and the load
    average while it ran (the machine may be shared; steps to the lesson do not depend on load, seconds do)."""
    from .presets import DEFAULTS, PRESETS, LessonWatch, observers, preset_configs, watched
    from .train.live import RunRegistry

    rows = []
    for page in pages or list(PRESETS):
        for preset in PRESETS[page]:
            if only is not None and preset not in only:
                continue
            configs = preset_configs(preset, DEFAULTS[page])
            reg = RunRegistry(max_running=len(configs))
            watch = LessonWatch(preset.lesson, [label for label, _ in configs], margin)
            load0 = machine_load()
            runs = reg.start_group(configs, "bench", watched(observers(page), watch))
            # each run's thread count as the page's would have it (a small step keeps one: train.live)
            threads = {r.label: reg.threads_per_run(r.work) for r in runs}
            deadline = time.monotonic() + budget
            for r in runs:
                r.join(max(0.0, deadline - time.monotonic()))
            reg.stop([r.id for r in runs])
            for r in runs:
                r.join()
            snaps = {r.label: r.snapshot() for r in runs}
            hit = watch.hit
            row = {
                "page": page,
                "preset": preset.name,
                "lesson": preset.lesson.text,
                "seconds_to_lesson": hit.seconds if hit else None,
                "steps_to_lesson": hit.steps if hit else None,
                # the slowest run's own CPU time to the lesson, its cores shared when the preset trains more runs
                # than there are cores: a lower bound for a quiet machine (it leaves out waiting for the GIL)
                "cpu_seconds_to_lesson": max(hit.cpu.values()) * max(1.0, len(configs) / reg.cores) if hit else None,
                "cpu_ms_per_step": {k: 1000 * hit.cpu[k] / max(1, hit.steps[k]) for k in hit.cpu} if hit else None,
                "ms_per_step": {k: 1000 * s.elapsed / max(1, s.steps) for k, s in snaps.items()},
                "steps": {k: s.steps for k, s in snaps.items()},
                "final": {k: {"loss": s.eval[-1].loss, **s.eval[-1].metrics} for k, s in snaps.items() if s.eval},
                "baseline": {k: {"loss": s.baseline_loss, **s.baseline_metrics} for k, s in snaps.items()},
                "threads": threads,
                "load": [load0, machine_load()],
            }
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows


# configurations spanning the live rule's threshold (``train.live.PARALLEL_WORK``): preset runs from the
# smallest step to the largest, and the bigger char GPTs and LSTMs a student may set on the Language page
THREAD_CONFIGS: dict[str, dict] = {
    "lstm parity T=6 (GRU vs LSTM)": {"model": "lstm", "task": "parity", "seq_len": 6},
    "lstm copy h=128 (Memory)": {"model": "lstm", "task": "copy", "seq_len": 3, "delay": 20, "hidden": 128},
    "lstm adding T=100 B=64 (Vanishing)": {"model": "lstm", "task": "adding", "seq_len": 100, "batch_size": 64},
    "bahdanau reverse T=20": {"model": "bahdanau", "task": "seq-reverse", "seq_len": 20},
    "selective-ssm recall": {"model": "selective-ssm", "task": "recall", "seq_len": 4},
    "ssm copy delay 60": {"model": "ssm", "task": "copy", "seq_len": 3, "delay": 60},
    "gpt copy T=40 L=2": {"model": "gpt", "task": "copy", "seq_len": 20, "delay": 0, "layers": 2},
    "bert reverse T=40 L=2": {"model": "bert", "task": "reverse", "seq_len": 20, "layers": 2},
    "moe reverse T=40 L=2": {"model": "moe", "task": "reverse", "seq_len": 20, "layers": 2},
    "lstm dyck L=2": {"model": "lstm", "task": "chars", "corpus": "dyck", "seq_len": 64, "layers": 2},
    "gpt grammar B=64 L=2 (char GPT)": {
        "model": "gpt",
        "task": "chars",
        "corpus": "grammar",
        "seq_len": 64,
        "layers": 2,
        "batch_size": 64,
    },
    "lstm chars h=256": {"model": "lstm", "task": "chars", "seq_len": 64, "hidden": 256},
    "gpt chars d=128 L=2": {"model": "gpt", "task": "chars", "seq_len": 64, "layers": 2, "hidden": 128},
    "lstm chars h=512": {"model": "lstm", "task": "chars", "seq_len": 64, "hidden": 512},
    "gpt chars d=128 L=4": {"model": "gpt", "task": "chars", "seq_len": 64, "layers": 4, "hidden": 128},
}


# ``while True: pass`` that also ends when its parent does, so a bench killed mid-way leaves no busy loop behind
BUSY_LOOP = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (/proc/stat: all but idle and iowait); 0 off Linux."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def bench_threads(
    configs: dict[str, dict] | None = None, rounds: int = 7, block_s: float = 0.25, quiet: float = 0.3
) -> list[dict]:
    """Per configuration: ms per training step (the engine's logged step, wall clock) on 1 and on 2 threads, in
    ``rounds`` pairs of blocks (1 then 2 threads, or 2 then 1, alternating), first with nothing added and then
    beside one busy process of ours (``BUSY_LOOP``). The machine is shared, so each block also measures how many
    cores other processes kept busy meanwhile (the machine's busy CPU time less ours); medians are over the pairs
    in which that stayed under ``quiet`` (under 1 + ``quiet`` beside the busy loop, which counts), ``pairs`` says
    how many of ``rounds`` that left (none: no number). With each step's ``step_work`` and the thread count the
    live rule gives the run alone on an idle machine."""
    import subprocess
    import sys

    from .train.live import RunRegistry, step_work

    rule = RunRegistry(max_running=1, cores=2, load=lambda: 0.0)
    threads = torch.get_num_threads()
    rows = []
    try:
        for label, flat in (configs or THREAD_CONFIGS).items():
            tr = Trainer(RunConfig.from_flat({**flat, "device": "cpu"}))

            def block(n: int, k: int, tr=tr) -> tuple[float, float]:
                """(ms per step, cores other processes kept busy) over ``k`` steps on ``n`` threads."""
                torch.set_num_threads(n)
                busy0, ours0, t = _busy_seconds(), time.process_time(), time.perf_counter()
                for _ in range(k):
                    tr.step()
                wall = time.perf_counter() - t
                return wall / k * 1000, (_busy_seconds() - busy0 - (time.process_time() - ours0)) / wall

            for n in (1, 2, 1):
                block(n, 2)
            k = max(2, min(200, round(block_s * 1000 / block(1, 3)[0])))
            work = step_work(tr)
            row = {"config": label, "work": work, "rule_threads": rule.threads_per_run(work)}
            for cond, limit in (("quiet", quiet), ("busy", 1 + quiet)):
                busy = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if cond == "busy" else None
                kept: list[tuple[float, float]] = []
                try:
                    for r in range(rounds):
                        pair = {n: block(n, k) for n in ((1, 2) if r % 2 == 0 else (2, 1))}
                        if max(others for _, others in pair.values()) < limit:
                            kept.append((pair[1][0], pair[2][0]))
                finally:
                    if busy is not None:
                        busy.kill()
                        busy.wait()
                row[cond] = {"pairs": len(kept)}
                if kept:
                    one, two = (statistics.median(x) for x in zip(*kept, strict=True))
                    gain = statistics.median(a / b for a, b in kept)
                    row[cond].update({"ms_1": one, "ms_2": two, "gain": gain})
            row["load"] = machine_load()
            rows.append(row)
    finally:
        torch.set_num_threads(threads)
    return rows
