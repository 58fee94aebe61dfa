"""``python -m seqlab``: everything the app shows, scriptable.

Contract: with ``--json`` the last stdout line is one JSON object (or list, for ``bench``).
Bad input exits with code 2 and one line on stderr naming the field; no traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from typing import Any

from .config import ModelConfig, RunConfig, TrainConfig
from .errors import SeqlabError
from .models.registry import MODELS, incompatibility
from .tasks.registry import TASKS, make_task
from .train.engine import Trainer
from .train.observers import Observer
from .train.records import clean_json

MAX_READ = 2_000_001  # one byte over the upload limit, so an oversized file is reported as such


class UsageError(SeqlabError):
    """A malformed command line."""


class Parser(argparse.ArgumentParser):
    """argparse that reports bad input as one line and exit code 2."""

    def error(self, message: str):
        raise UsageError(message)


# -- flags built from the configs and registries, so a new model's options appear by themselves --
def _option_fields() -> dict[str, tuple[str, Any]]:
    """flat option name -> (help text, default) for every model and task option."""
    out: dict[str, tuple[str, list[str]]] = {}
    for registry in (MODELS, TASKS):
        for name, cls in registry.items():
            for field, info in cls.Options.model_fields.items():
                help_text, users = out.get(field, (info.description or "", []))
                out[field] = (help_text, [*users, name])
    return out


def _options_json(cls) -> dict:
    return {f: {"default": fi.default, "help": fi.description} for f, fi in cls.Options.model_fields.items()}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_run_flags(p: argparse.ArgumentParser, with_seed: bool = True) -> None:
    p.add_argument("--model", required=True, help=f"one of: {', '.join(MODELS)}")
    p.add_argument("--task", required=True, help=f"one of: {', '.join(TASKS)}")
    p.add_argument("--seq-len", dest="seq_len", help="task length (see `seqlab list` for its meaning per task)")
    for name in ("hidden", "layers", "embed_dim", "init"):
        p.add_argument(_flag(name), dest=name, help=ModelConfig.model_fields[name].description)
    for name, info in TrainConfig.model_fields.items():
        if name == "seed" and not with_seed:
            continue
        p.add_argument(_flag(name), dest=name, help=f"{info.description or name} (default {info.default})")
    for name, (help_text, users) in _option_fields().items():
        p.add_argument(_flag(name), dest=name, help=f"{help_text} [{', '.join(users)}]")


def flat_from_args(args: argparse.Namespace, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    keys = {"model", "task", "seq_len", "hidden", "layers", "embed_dim", "init", *TrainConfig.model_fields}
    keys |= set(_option_fields())
    return {k: getattr(args, k) for k in keys if k not in skip and getattr(args, k, None) is not None}


# -- progress ------------------------------------------------------------------------------
class Progress(Observer):
    """A progress bar on stderr: redrawn in place on a terminal, a line per 10 % otherwise."""

    def __init__(self, stream=None, width: int = 28):
        self.stream, self.width = stream or sys.stderr, width
        self.tty = self.stream.isatty()
        self.last_draw = 0.0
        self.next_pct = 10
        self.metrics = ""

    def on_start(self, trainer) -> None:
        self.total = trainer.config.train.steps
        self.name = f"{trainer.config.model.name} on {trainer.config.task.name}"

    def on_eval(self, record) -> None:
        self.metrics = " ".join(f"{k} {v:.3g}" for k, v in record.metrics.items())

    def on_step(self, record) -> None:
        now = time.monotonic()
        pct = 100 * record.step / self.total
        line = (
            f"{self.name} step {record.step}/{self.total} loss {record.loss:.4g} {self.metrics} {record.elapsed:.1f}s"
        )
        if self.tty and now - self.last_draw > 0.1:
            filled = int(self.width * record.step / self.total)
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r[{bar}] {line}\x1b[K")
            self.stream.flush()
            self.last_draw = now
        elif not self.tty and pct >= self.next_pct:
            self.stream.write(f"[{pct:3.0f}%] {line}\n")
            self.next_pct = 10 * (int(pct) // 10 + 1)

    def on_end(self, result) -> None:
        if self.tty:
            self.stream.write("\n")
        self.stream.write(f"{result.status} after {result.steps} steps in {result.seconds:.1f}s\n")
        self.stream.flush()


# -- commands --------------------------------------------------------------------------------
def cmd_list(args) -> dict:
    models = []
    for name, cls in MODELS.items():
        i = cls.info
        models.append(
            {
                "name": name,
                "title": i.title,
                "year": i.year,
                "paper": i.paper,
                "summary": i.summary,
                "time": i.time.text,
                "space": i.space.text,
                "train_memory": i.train_memory.text,
                "parallel": i.parallel,
                "inits": list(cls.inits),
                "default_init": cls.default_init,
                "options": {
                    f: {"default": fi.default, "help": fi.description} for f, fi in cls.Options.model_fields.items()
                },
                "tasks": [t for t, tcls in TASKS.items() if incompatibility(cls, make_task(t)) is None],
            }
        )
    tasks = []
    for name, cls in TASKS.items():
        task = make_task(name)
        tasks.append(
            {
                "name": name,
                "title": cls.title,
                "description": cls.description,
                "citation": cls.citation,
                "output": cls.output_kind,
                "metrics": list(task.metrics),
                "default_seq_len": cls.default_seq_len,
                "seq_len_meaning": cls.seq_len_meaning,
                "options": {
                    f: {"default": fi.default, "help": fi.description} for f, fi in cls.Options.model_fields.items()
                },
            }
        )
    if not args.json:
        print("Models")
        for m in models:
            print(f"  {m['name']:<14} {m['year']}  {m['title']}: {m['summary']}")
            print(f"  {'':<14}       time {m['time']}, trains on: {', '.join(m['tasks'])}")
            for o, d in m["options"].items():
                print(f"  {'':<14}       {_flag(o)} (default {d['default']}): {d['help']}")
        print("Tasks")
        for t in tasks:
            print(f"  {t['name']:<14} {t['description']}")
            print(
                f"  {'':<14} --seq-len = {t['seq_len_meaning']} (default {t['default_seq_len']}); "
                f"output {t['output']}, metrics {', '.join(t['metrics'])}"
            )
            for o, d in t["options"].items():
                print(f"  {'':<14} {_flag(o)} (default {d['default']}): {d['help']}")
    return {"models": models, "tasks": tasks}


def _check_writable(path: str | None) -> None:
    if path:
        try:
            with open(path, "a"):
                pass
        except OSError as e:
            raise UsageError(f"cannot write --out file {path!r}: {e.strerror}", "out") from None


def cmd_train(args) -> dict:
    flat = flat_from_args(args)
    if args.text_file:
        from .tasks.chars import register_text

        try:
            with open(args.text_file, "rb") as f:
                data = f.read(MAX_READ)
        except OSError as e:
            raise UsageError(f"cannot read {args.text_file}: {e.strerror}", "text_file") from None
        flat.update(corpus="text", text_id=register_text(data))
    config = RunConfig.from_flat(flat)
    sampling = None
    if args.sample:
        from .sampling import SamplingConfig, check_samplable

        sampling = SamplingConfig.build(
            prompt=args.prompt,
            length=args.sample,
            temperature=args.temperature,
            top_k=args.sample_top_k,
            seed=args.seed or 0,
        )
    _check_writable(args.out)
    if args.eval_seq_len is not None:
        _check_eval_length(config, args.eval_seq_len)
    observers = [] if args.quiet else [Progress()]
    run_id = None
    if args.save:
        from .store import RunStore, new_run_id

        store = RunStore()
        store.ensure_writable()
        run_id = new_run_id(config.model.name, config.task.name)
        observers.append(store.writer(run_id))
    trainer = Trainer(config, observers)
    if sampling is not None:
        check_samplable(trainer.model, trainer.task)  # before training, not after
        sampling.prompt = (
            sampling.prompt if args.prompt is not None else trainer.task.decode(trainer.eval_batch.x[0, :4])
        )
        trainer.task.encode(sampling.prompt)
    previous = signal.signal(signal.SIGINT, lambda *_: trainer.request_stop())
    try:
        result = trainer.run()
    finally:
        signal.signal(signal.SIGINT, previous)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result.to_json(history=True), f)
    summary = result.to_json()
    if args.eval_seq_len is not None:
        loss, metrics = trainer.evaluate_at_length(args.eval_seq_len)
        summary["at_length"] = {"seq_len": args.eval_seq_len, "loss": loss, "metrics": metrics}
        if not args.json:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
            print(f"at --seq-len {args.eval_seq_len}: held-out loss {loss:.4g}, {shown}")
    if trainer.task.variable_length and result.steps and result.status != "diverged":
        from .diagnostics.lengths import accuracy_by_length

        rows = accuracy_by_length(trainer.model, trainer.task, device=trainer.device)
        if rows:
            summary["accuracy_by_length"] = rows
            if not args.json:
                shown = ", ".join(f"{r['length']}: {r['sequence_accuracy']:.2f}" for r in rows)
                print(
                    f"sequence accuracy by {trainer.task.seq_len_meaning} (trained ≤ {trainer.task.seq_len}): {shown}"
                )
    if run_id:
        summary["run_id"] = run_id
    if sampling is not None and result.status != "diverged":
        from .sampling import sample_text

        text = sample_text(trainer.model, trainer.task, sampling)
        summary["sample"] = {**sampling.model_dump(), "text": text}
        verdict = trainer.task.assess(sampling.prompt, text)
        if verdict:
            summary["sample"]["assessment"] = verdict
        if not args.json:
            print(f"sample (τ = {sampling.temperature}, top-k {sampling.top_k or 'all'}):")
            print(sampling.prompt + text)
            if verdict:
                print(f"judged against the corpus's rules: {verdict['summary']}")
    if not args.json:
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in result.metrics.items())
        base = ", ".join(f"{k} {v:.4g}" for k, v in result.baseline_metrics.items())
        print(
            f"{result.model} on {result.task}: {result.status} after {result.steps} steps, {result.seconds:.1f}s, "
            f"{result.params:,} parameters"
        )
        print(
            f"held-out loss {result.final_loss:.4g} (blind baseline {result.baseline_loss:.4g}); "
            f"{metrics} (baseline {base})"
        )
        if result.blowup:
            print(f"warning: {result.blowup}")
        g = result.grad_norm_by_time
        if g:
            ratio = g[-1] / g[0] if g[0] else math.inf
            print(f"‖∂L/∂x_t‖ at the first input step {g[0]:.3g}, at the last {g[-1]:.3g} (last/first {ratio:.3g})")
    return summary


def _check_eval_length(config: RunConfig, seq_len: int) -> None:
    """Refuse before training what the evaluation would refuse or run out of memory on after it: a
    length the task cannot generate, a length a fixed-length model cannot read (the MLP's lesson),
    a forward pass over the memory limit."""
    from .config import MAX_SEQ_LEN
    from .errors import ConfigError, LengthMismatchError
    from .models.memory import evaluation_memory
    from .models.registry import model_class
    from .tasks.registry import make_task

    if not 1 <= seq_len <= MAX_SEQ_LEN:
        raise UsageError(f"must be between 1 and {MAX_SEQ_LEN:,}, the longest task length seqlab makes", "eval_seq_len")
    trained = config.make_task().spec.length
    try:
        task = make_task(config.task.name, seq_len, config.task.options)
    except ConfigError as e:  # the task's own maximum, reported against this flag rather than the trained length
        raise UsageError(str(e).removeprefix(f"{e.field}: "), "eval_seq_len") from None
    other = task.spec.length
    evaluation_memory(config.model, task, config.train.eval_size).check(config.train.max_memory_mb, "eval_seq_len")
    cls = model_class(config.model.name)
    if cls.fixed_length and other != trained:
        raise LengthMismatchError(
            f"{cls.info.title} is built for input length {trained} and cannot read length {other}: it has one "
            "block of weights per input position. A recurrent network can (try --model rnn).",
            "eval_seq_len",
        )


def _warn(problems: list[str]) -> None:
    for p in problems:
        print(f"seqlab: warning: {one_line(p)}", file=sys.stderr)


def cmd_runs(args) -> dict:
    from .store import RunStore, StoreError

    store = RunStore()
    if args.show is not None:
        run = store.load(args.show)
        shown = run["result"] or run["config"]
        if shown is None:
            reasons = "; ".join(p.removeprefix(f"run {run['id']}: ") for p in run["problems"])
            raise StoreError(f"{run['id']!r} has nothing readable to show: {reasons}", "run")
        _warn(run["problems"])
        if not args.json:
            print(json.dumps(shown, indent=1))
        return run
    runs = [store.summary(i) for i in store.ids()]
    _warn([p for r in runs for p in r.get("problems", [])])
    if not args.json:
        if not runs:
            print(f"no stored runs in {store.root}/ (train with --save to keep one)")
        for r in runs:
            loss = r.get("final_loss")
            print(f"{r['id']}  {r['status']:<14} {'' if loss is None else f'loss {loss:.4g}'}".rstrip())
    return {"root": str(store.root), "runs": runs}


def cmd_sweep(args) -> dict:
    """The same run over several seeds: the researcher's what-if, with mean and spread."""
    seeds = _int_list(args.seeds, "seeds")
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:  # the same seed twice is the same run twice: a spread of 0 that measures nothing
        raise UsageError(f"seed {', '.join(map(str, twice))} appears more than once; give distinct seeds", "seeds")
    runs = []
    for seed in seeds:
        config = RunConfig.from_flat({**flat_from_args(args, skip=("seed",)), "seed": seed})
        result = Trainer(config).run()
        runs.append(result.to_json())
        if not args.json:
            m = ", ".join(f"{k} {v:.4g}" for k, v in result.metrics.items())
            print(
                f"seed {seed}: {result.status}, {result.steps} steps, {result.seconds:.1f}s, "
                f"loss {result.final_loss:.4g}, {m}"
            )
    keys = sorted({k for r in runs for k in r["metrics"]} | {"final_loss"})
    stats = {}
    for k in keys:
        vals = [r["final_loss"] if k == "final_loss" else r["metrics"].get(k) for r in runs]
        vals = [v for v in vals if v is not None]
        if vals:
            mean = sum(vals) / len(vals)
            sd = (sum((v - mean) ** 2 for v in vals) / max(1, len(vals) - 1)) ** 0.5
            stats[k] = {"mean": mean, "std": sd, "min": min(vals), "max": max(vals)}
            if not args.json:
                print(f"{k}: mean {mean:.4g} ± {sd:.2g} (n={len(vals)})")
    return {"seeds": seeds, "runs": runs, "stats": stats}


def _int_list(text: str, field: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"expected comma-separated integers, got {text!r}", field) from None
    if not values:
        raise UsageError("needs at least one value", field)
    return values


def cmd_bench(args) -> list:
    from .bench import bench_steps

    if args.diagnostics:
        from .bench import bench_diagnostics

        rows = bench_diagnostics(model=args.models or "lstm")
        if not args.json:
            print(f"{'diagnostic':<55} {'bare ms':>8} {'with ms':>8} {'ratio':>6}   (both include evaluation)")
            for r in rows:
                print(f"{r['diagnostic']:<55} {r['bare_ms']:>8.2f} {r['with_ms']:>8.2f} {r['ratio']:>6.3f}")
        return rows
    if args.complexity:
        from .bench import COMPLEXITY_LENGTHS, bench_complexity

        rows = bench_complexity()
        if not args.json:
            print(f"full sweep at n = {COMPLEXITY_LENGTHS}, d = 64, batch 8, 1 thread (target < 10 s)")
            for r in rows:
                print(f"  {r['models']:<18} measuring {r['metrics']:<26} {r['seconds']:6.1f} s")
            print("  fitted exponent − theory (target |·| ≤ 0.15 for the recurrent models and attention-op):")
            for r in (rows[0], rows[2]):
                for k, v in r["exponent_minus_theory"].items():
                    print(f"    {k:<24} {v:+.2f}")
        return rows
    if args.ssm:
        from .bench import bench_ssm

        r = bench_ssm()
        if not args.json:
            print(
                f"selective SSM training step, parity n={r['n']}, d={r['d']}, N={r['state']}, batch 8, 1 thread, "
                "median ms of interleaved steps, CPU (wall) (target: two-level ≥ 5× faster than the loop)"
            )
            for k, v in r["step_ms"].items():
                ratio = "" if k == "loop" else f"  {r['speedup'][k]:.2f}× faster than the loop"
                print(f"  {k:<10} {v:8.1f} ms ({r['step_wall_ms'][k]:.1f}){ratio}")
            sc = r["scan_ms"]
            print(
                f"the scan alone (forward + backward): loop {sc['loop']:.1f} ms, two-level {sc['two-level']:.1f} ms "
                f"({r['scan_speedup']:.2f}×); the step with a free scan {r['rest_ms']:.1f} ms: at best "
                f"{r['speedup_if_scan_were_free']:.2f}× faster than the loop"
            )
            rec = r["recall_ms"]
            print(
                f"recall, 12 pairs, d={r['d']}, 2 layers: loop {rec['loop']:.1f} ms, "
                f"two-level {rec['two-level']:.1f} ms ({r['recall_speedup']:.2f}×); "
                f"S4D {rec['s4d']:.1f} ms, GPT {rec['gpt']:.1f} ms"
            )
            print(
                f"two-level step CPU time over n = {r['lengths']}: "
                + ", ".join(f"{v:.1f}" for v in r["two_level_ms"])
                + f" ms; exponent {r['time_exponent']:.2f} ± {r['time_exponent_stderr']:.2f} (target within 0.15 of 1)"
            )
            print(
                "  the same step with a free scan: "
                + ", ".join(f"{v:.1f}" for v in r["no_scan_ms"])
                + f" ms, exponent {r['no_scan_time_exponent']:.2f}; the scan alone (forward + backward): "
                + ", ".join(f"{v:.1f}" for v in r["scan_alone_ms"])
                + f" ms, exponent {r['scan_alone_time_exponent']:.2f} ± {r['scan_alone_time_exponent_stderr']:.2f}"
            )
        return [r]
    if args.live:
        from .ui.bench import bench_live  # the CLI, like app.py, is an entry point: it may reach the UI

        row = bench_live()
        if not args.json:
            print(
                f"live view: one redraw of the three panels takes {row['redraw_ms']:.1f} ms every "
                f"{row['poll_seconds']} s ({100 * row['redraw_fraction']:.1f} % of the time); training ran at "
                f"{row['steps_per_s_unwatched']:.1f} steps/s unwatched and {row['steps_per_s_watched']:.1f} "
                f"watched: slowdown {row['slowdown']:.3f} (target ≤ 1.05; a few % of noise here)"
            )
        return [row]

    models = None
    if args.models is not None:
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        if not models:
            raise UsageError("name at least one model (or leave --models out for every model)", "models")
    if args.rounds < 1:
        raise UsageError(f"must be ≥ 1 (got {args.rounds})", "rounds")
    rows = bench_steps(
        models=models,
        task=args.task,
        seq_len=args.seq_len,
        hidden=args.hidden,
        layers=args.layers,
        batch_size=args.batch_size,
        rounds=args.rounds,
    )
    if not args.json:
        print(
            f"{'model':<14} {'bare ms':>9} {'instr. ms':>10} {'ratio':>7}   (task {args.task}, T={args.seq_len}, "
            f"B={args.batch_size}, hidden {args.hidden}, {args.layers} layer(s), 1 thread, "
            f"median of {args.rounds} interleaved rounds)"
        )
        for r in rows:
            print(f"{r['model']:<14} {r['bare_ms']:>9.3f} {r['instrumented_ms']:>10.3f} {r['ratio']:>7.3f}")
    return rows


def cmd_classics(args) -> list:
    from .classics import run_classics

    rows = run_classics(lambda name: [] if args.quiet else [Progress()])
    if not args.json:
        for r in rows:
            verdict = "reproduced" if r["reproduced"] else "NOT reproduced"
            print(f"{r['classic']}: {verdict} — {r['claim']}")
            print(
                f"  LSTM {r['lstm_metrics']} in {r['lstm_seconds']:.1f}s; "
                f"RNN {r['rnn_metrics']} in {r['rnn_seconds']:.1f}s; "
                f"RNN ‖∂L/∂x_1‖/‖∂L/∂x_T‖ = {r['rnn_grad_first_over_last']:.2g}"
            )
    return rows


def cmd_complexity(args) -> dict:
    from .complexity.sweep import parse_lengths, parse_metrics, sweep, validate

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    lengths = parse_lengths(args.lengths)
    metrics = parse_metrics(args.metrics)
    if args.repeats < 1:
        raise UsageError(f"must be ≥ 1 (got {args.repeats})", "repeats")
    validate(models, lengths, args.d, args.batch_size)  # refuse before measuring anything

    def progress(done, total, label):
        if not args.quiet:
            print(f"[{done}/{total}] {label}", file=sys.stderr, flush=True)

    out = sweep(
        models, lengths, args.d, args.batch_size, args.repeats, progress=progress, metrics=metrics, fresh=args.fresh
    )
    if not args.json:
        print(
            f"{'model':<14} {'n':>6} {'ms/step':>9} {'MFLOPs':>10} {'saved MiB':>10} {'peak MiB':>9} "
            f"{'seq. depth':>10} {'max path':>9}"
        )

        def cell(v, width, scale=1.0, fmt=".2f"):
            return f"{'–':>{width}}" if v is None else f"{v / scale:>{width}{fmt}}"

        for r in out.rows:
            print(
                f"{r['model']:<14} {r['n']:>6} {cell(r['ms'], 9)} {cell(r['flops'], 10, 1e6, '.1f')} "
                f"{cell(r['activation_bytes'], 10, 2**20)} {cell(r['peak_bytes'], 9, 2**20)} "
                f"{cell(r['sequential_depth'], 10, fmt='.0f')} {cell(r['max_path_length'], 9, fmt='.0f')}"
            )
        print(f"\n{'model':<14} {'metric':<17} {'measured exponent':>18} {'theory':>7}")
        for f in out.fits:
            print(f"{f.model:<14} {f.metric:<17} {f.exponent:>11.2f} ± {f.stderr:<5.2f} {f.theory:>7g}")
        cached = sum(r["cached"] for r in out.rows)
        note = f" ({cached} of {len(out.rows)} points from the cache; --fresh measures again)" if cached else ""
        print(f"\nmeasured in {out.seconds:.1f} s{note}")
    return out.to_json()


def cmd_search(args) -> dict:
    from .search import Search, SearchConfig, int_list

    space = {
        "families": [f.strip() for f in args.families.split(",") if f.strip()],
        "hidden": int_list(args.hidden, "search.space.hidden"),
        "layers": int_list(args.layers, "search.space.layers"),
        "heads": int_list(args.heads, "search.space.heads"),
    }
    config = SearchConfig.build(
        {
            "task": args.task,
            "seq_len": args.seq_len,
            "space": space,
            "trials": args.trials,
            "min_steps": args.min_steps,
            "eta": args.eta,
            "budget": args.budget,
            "seed": args.seed,
        }
    )
    search = Search(config)
    out = search.run()
    if not args.json:
        print(f"{'architecture':<22} {'rung':>4} {'steps':>6} {out.metric:>10} {'params':>9} {'ms/step':>8}")
        for t in out.trials:
            print(f"{t.label:<22} {t.rung:>4} {t.steps:>6} {t.metric:>10.4g} {t.params:>9,} {t.ms_per_step:>8.2f}")
        if out.best:
            print(f"best: {out.best.label} ({out.metric} {out.best.metric:.4g})")
        print("Pareto front, score vs parameters: " + ", ".join(t.label for t in out.pareto_params))
    return out.to_json()


# -- the language-model experiments (seqlab.experiments) ---------------------------------------------
def add_experiment_flags(p: argparse.ArgumentParser, cls) -> None:
    """One flag per config field, so the CLI and the library cannot drift apart."""
    for name, info in cls.model_fields.items():
        default = info.default_factory() if info.default_factory else info.default
        shown = ",".join(map(str, default)) if isinstance(default, list) else default
        p.add_argument(_flag(name), dest=name, help=f"{info.description or name} (default {shown})")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last stdout line")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def experiment_config(args: argparse.Namespace, cls):
    data = {}
    for name, info in cls.model_fields.items():
        value = getattr(args, name, None)
        if value is not None and getattr(info.annotation, "__origin__", None) is list:
            value = _int_list(value, f"{cls.section}.{name}")
        data[name] = value
    return cls.build(data)


def _progress(args):
    return lambda label: [] if args.quiet else [Progress()]


def cmd_pretrain(args) -> dict:
    from .experiments.pretrain import ARMS, PretrainConfig, run_pretrain

    out = run_pretrain(experiment_config(args, PretrainConfig), _progress(args))
    if not args.json:
        pre, ft = out.pretrain, out.finetune
        print(
            f"pre-training (masked tokens): held-out accuracy {pre.accuracy:.3f} on the masked positions "
            f"(chance {pre.chance:.3f}) after {pre.steps} steps, {pre.seconds:.1f}s"
        )
        c = out.config
        print(
            f"fine-tuning on {ft.labelled_examples} labelled examples ({c['finetune_steps']} steps × "
            f"{c['finetune_batch']}), held-out accuracy (chance {ft.chance:.3f}, Bayes ceiling {ft.ceiling:.3f}):"
        )
        for arm in ARMS:
            r = ft.runs[arm]
            print(f"  {arm:<13} {r.final_accuracy:.3f}  (loss {r.final_loss:.3f}, {r.seconds:.1f}s)")
        print(f"gain from pre-training: {out.gain:+.3f} accuracy")
    return out.to_json()


def cmd_scaling(args) -> dict:
    from .experiments.scaling import ScalingConfig, run_scaling

    config = experiment_config(args, ScalingConfig)
    total = len(config.widths)
    done = []

    def on_point(p) -> None:
        done.append(p)
        if not args.quiet:
            print(
                f"[{len(done)}/{total}] d={p.width}: N={p.non_embedding_params:,} non-embedding parameters, "
                f"held-out loss {p.loss:.4g} ({p.seconds:.1f}s)",
                file=sys.stderr,
                flush=True,
            )

    out = run_scaling(config, lambda label: [], on_point)
    if not args.json:
        print(f"{'d':>5} {'N (non-emb.)':>13} {'params':>9} {'loss':>8} {'seconds':>8}")
        for p in out.points:
            print(f"{p.width:>5} {p.non_embedding_params:>13,} {p.params:>9,} {p.loss:>8.4f} {p.seconds:>8.1f}")
        print("fit L(N) = a·N^(−α) + c, least squares on log–log axes:")
        for mode, f in out.fits.items():
            chosen = " ← --irreducible" if mode == config.irreducible else ""
            where = {"bayes": "c = the exact Bayes loss", "fit": "c fitted", "none": "c = 0"}[mode]
            if not f.ok:
                print(f"  {where:<26} no fit: {f.error}{chosen}")
                continue
            print(
                f"  {where:<26} α = {f.alpha:.3f} ± {f.alpha_stderr:.3f} (95 % ± {f.alpha_ci95:.3f}, "
                f"{f.dof} dof), a = {f.a:.4g}, c = {f.c:.4f}, log residual {f.rmse_log:.3f}{chosen}"
            )
        print(
            f"every model saw {out.tokens:,} tokens; blind loss ln V = {out.blind_loss:.3f}, "
            f"Bayes floor {out.bayes_loss:.3f}. A CPU toy: ~2 orders of magnitude of N, one budget, "
            "few points — the exponent describes this corpus and budget (Kaplan et al. 2020 measured "
            "α ≈ 0.076 on WebText2 over six orders)."
        )
    return out.to_json()


def cmd_fewshot(args) -> dict:
    from .experiments.fewshot import FewShotConfig, run_fewshot

    out = run_fewshot(experiment_config(args, FewShotConfig), _progress(args))
    if not args.json:
        print(f"{'k':>4} {'accuracy':>9} {'ideal':>7} {'chance':>7}")
        for r in out.rows:
            mark = "" if r.trained else "   (more examples than in training)"
            print(f"{r.k:>4} {r.accuracy:>9.3f} {r.ideal:>7.3f} {r.chance:>7.3f}{mark}")
        print(
            f"trained with k = 1…{out.train_max} examples per prompt; every mapping scored here is new, so "
            f"what is right was read from the context ({out.params:,} parameters, {out.seconds:.1f}s)"
        )
    return out.to_json()


def build_parser() -> Parser:
    p = Parser(prog="seqlab", description="Train the history of neural sequence models and look inside.")
    # read by load_plugins before parsing (anywhere on the line); declared here for --help
    p.add_argument(
        "--plugin",
        metavar="FILE",
        action="append",
        help="register the SeqModel(s) defined in FILE (repeatable; also $SEQLAB_PLUGINS=a.py:b.py)",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    s = sub.add_parser("list", help="models and tasks, with options and compatibility")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("train", help="train one model on one task")
    add_run_flags(s)
    s.add_argument("--json", action="store_true", help="print a JSON summary as the last stdout line")
    s.add_argument("--out", help="write the full record, history included, to this JSON file")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--save", action="store_true", help="keep the run in the run store ($SEQLAB_RUNS, default runs/)")
    s.add_argument("--eval-seq-len", type=int, help="after training, also score the model at this task length")
    s.add_argument("--text-file", help="chars task: train on this UTF-8 text (≤ 2 MB) instead of a generated corpus")
    s.add_argument("--sample", type=int, metavar="N", help="chars task: after training, write N characters")
    s.add_argument("--prompt", help="text the sample continues (default: the start of a held-out window)")
    s.add_argument("--temperature", type=float, default=0.8, help="sampling temperature τ > 0")
    s.add_argument(
        "--sample-top-k", type=int, help="sample among the k most likely characters (--top-k is MoE routing)"
    )
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("runs", help="list stored runs, or show one")
    s.add_argument("--show", metavar="RUN_ID", help="print one stored run")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_runs)

    s = sub.add_parser("sweep", help="the same run over several seeds, with mean and spread")
    add_run_flags(s, with_seed=False)
    s.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_sweep)

    s = sub.add_parser("bench", help="time a bare fused training step against the instrumented engine step")
    s.add_argument("--models", help="comma-separated (default: every model that fits the task)")
    s.add_argument("--task", default="parity")
    s.add_argument("--seq-len", type=int, default=50)
    s.add_argument("--hidden", type=int, default=64)
    s.add_argument("--layers", type=int, default=1)
    s.add_argument("--batch-size", type=int, default=32)
    s.add_argument("--rounds", type=int, default=30)
    s.add_argument("--live", action="store_true", help="instead: how much a page watching a run slows it")
    s.add_argument("--diagnostics", action="store_true", help="instead: each deep diagnostic's cost vs the bare step")
    s.add_argument("--complexity", action="store_true", help="instead: the full complexity sweep's time and fits")
    s.add_argument("--ssm", action="store_true", help="instead: the selective SSM's two-level scan against its loop")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("complexity", help="measured time, FLOPs and activation memory vs n, with log-log fits")
    s.add_argument(
        "--models", default="rnn,lstm,gpt", help="comma-separated model names, or attention-op (the operation alone)"
    )
    s.add_argument("--lengths", default="64,128,256,512", help="comma-separated, strictly increasing")
    s.add_argument("--d", type=int, default=64, help="hidden size d")
    s.add_argument("--batch-size", type=int, default=8)
    s.add_argument("--repeats", type=int, default=3, help="timed steps per point (median; fewer once they pass 0.5 s)")
    s.add_argument(
        "--metrics",
        default="time,flops,memory,graph",
        help="what to measure: time (ms/step), flops, memory (saved + peak bytes), graph (depth, path length)",
    )
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.add_argument(
        "--fresh", action="store_true", help="measure every point again instead of reading $SEQLAB_HOME's cache"
    )
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_complexity)

    s = sub.add_parser("search", help="random search + successive halving over architectures, with Pareto fronts")
    s.add_argument("--task", default="reverse")
    s.add_argument("--seq-len", type=int)
    s.add_argument("--families", default="lstm,gru,gpt,ssm", help="comma-separated model names")
    s.add_argument("--hidden", default="16,32,64")
    s.add_argument("--layers", default="1,2")
    s.add_argument("--heads", default="2,4")
    s.add_argument("--trials", type=int, default=8)
    s.add_argument("--min-steps", type=int, default=100)
    s.add_argument("--eta", type=int, default=2)
    s.add_argument("--budget", type=float, default=60.0, help="wall-clock seconds")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_search)

    from .experiments.fewshot import FewShotConfig
    from .experiments.pretrain import PretrainConfig
    from .experiments.scaling import ScalingConfig

    for name, cls, func, text in (
        ("pretrain", PretrainConfig, cmd_pretrain, "BERT: masked-token pre-training, then few-label fine-tuning"),
        ("scaling", ScalingConfig, cmd_scaling, "held-out loss vs GPT size under one budget, power-law fit"),
        ("fewshot", FewShotConfig, cmd_fewshot, "in-context accuracy vs number of examples k, frozen GPT"),
    ):
        s = sub.add_parser(name, help=text)
        add_experiment_flags(s, cls)
        s.set_defaults(func=func)

    s = sub.add_parser("classics", help="reproduce the classic LSTM-vs-RNN results with default settings")
    s.add_argument("--json", action="store_true")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_classics)
    return p


def one_line(text: str) -> str:
    """``text`` with control characters escaped, so an echoed value cannot split an error line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null: the reader is gone, and the flush at exit must not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # not a real file (e.g. captured by a test)
        pass


def set_process_threads(args: argparse.Namespace) -> None:
    """torch's intra-op threads are process-wide, so the CLI (the process's owner) sets them once,
    before any run, from ``--threads`` where the command has it (runs never set them: train/live.py)."""
    import torch

    threads = getattr(args, "threads", None)
    torch.set_num_threads(RunConfig.from_flat({} if threads is None else {"threads": threads}).train.threads)


def take_plugins(argv: list[str]) -> tuple[list[str], list[str]]:
    """``--plugin FILE`` / ``--plugin=FILE`` anywhere on the line (before or after the command) → (the files,
    the rest). Taken out before parsing because the parser's flags are built from the models, plugins' too."""
    files, rest, it = [], [], iter(argv)
    for a in it:
        if a == "--plugin":
            value = next(it, None)
            if value is None:
                raise UsageError("argument --plugin: expected one argument (a .py file defining a SeqModel)")
            files.append(value)
        elif a.startswith("--plugin="):
            files.append(a.removeprefix("--plugin="))
        else:
            rest.append(a)
    return files, rest


def load_plugins(argv: list[str]) -> list[str]:
    """Register the models of $SEQLAB_PLUGINS and every ``--plugin`` file; the first that fails ends the command."""
    from .plugins import env_paths, load

    files, rest = take_plugins(argv)
    for path in [*env_paths(), *files]:
        load(path)
    return rest


def main(argv: list[str] | None = None) -> int:
    try:
        argv = load_plugins(sys.argv[1:] if argv is None else list(argv))
        args = build_parser().parse_args(argv)
        set_process_threads(args)
        out = args.func(args)
        if getattr(args, "json", False):
            print(json.dumps(clean_json(out)))
    except SeqlabError as e:
        print(f"seqlab: error: {one_line(str(e))}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `seqlab runs --show ID | head`: the reader closed the pipe; stop quietly, with the exit code a
        # process killed by SIGPIPE has (128 + 13), as `yes | head` does
        _quiet_stdout()
        return 141
    return 0


if __name__ == "__main__":
    sys.exit(main())
