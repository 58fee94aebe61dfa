"""``seqlab train``: one model on one task, with a progress bar, optional store record, sample and
length evaluation."""

from __future__ import annotations

import json
import math

from ..config import RunConfig
from ..train.engine import Trainer
from .common import (
    MAX_READ,
    Progress,
    UsageError,
    add_run_flags,
    check_writable,
    flat_from_args,
    stopped_by_signals,
)


def register(sub) -> None:
    s = sub.add_parser("train", help="train one model on one task")
    add_run_flags(s)
    s.add_argument("--json", action="store_true", help="print a JSON summary as the last stdout line")
    s.add_argument("--out", help="write the full record, history included, to this JSON file")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--save", action="store_true", help="record the run in the run database ($SEQLAB_HOME/seqlab.db)")
    s.add_argument("--eval-seq-len", type=int, help="after training, also score the model at this task length")
    s.add_argument("--text-file", help="chars task: train on this UTF-8 text (≤ 2 MB) instead of a generated corpus")
    s.add_argument("--sample", type=int, metavar="N", help="chars task: after training, write N characters")
    s.add_argument("--prompt", help="text the sample continues (default: the start of a held-out window)")
    s.add_argument("--temperature", type=float, default=0.8, help="sampling temperature τ > 0")
    s.add_argument(
        "--sample-top-k", type=int, help="sample among the k most likely characters (--top-k is MoE routing)"
    )
    s.set_defaults(func=run, view=show)


class Trained:
    """The summary (what ``--json`` prints) plus what the text view needs beside it."""

    def __init__(self, summary: dict, result, length_meaning: str, trained_length: int, sampling=None):
        self.summary, self.result = summary, result
        self.length_meaning, self.trained_length, self.sampling = length_meaning, trained_length, sampling

    def to_json(self) -> dict:
        return self.summary


def _config(args) -> RunConfig:
    flat = flat_from_args(args)
    if flat.get("text_id") and flat.get("corpus") != "text":
        raise UsageError("names an uploaded text, which only --corpus text reads (or give --text-file FILE)", "text_id")
    if args.text_file:
        from ..tasks.chars import register_text

        try:
            with open(args.text_file, "rb") as f:
                data = f.read(MAX_READ)
        except OSError as e:
            raise UsageError(f"cannot read {args.text_file}: {e.strerror}", "text_file") from None
        flat.update(corpus="text", text_id=register_text(data))
    return RunConfig.from_flat(flat)


def _sampling(args):
    if not args.sample:
        return None
    from ..sampling import SamplingConfig

    return SamplingConfig.build(
        prompt=args.prompt,
        length=args.sample,
        temperature=args.temperature,
        top_k=args.sample_top_k,
        seed=args.seed or 0,
    )


def _observers(args, config: RunConfig) -> tuple[list, str | None]:
    observers = [] if args.quiet else [Progress()]
    if not args.save:
        return observers, None
    from ..store import RunStore, new_run_id

    store = RunStore()
    store.ensure_writable()
    run_id = new_run_id(config.model.name, config.task.name)
    return [*observers, store.writer(run_id)], run_id


def run(args) -> Trained:
    config = _config(args)
    sampling = _sampling(args)
    check_writable(args.out)
    if args.eval_seq_len is not None:
        check_eval_length(config, args.eval_seq_len)
    observers, run_id = _observers(args, config)
    trainer = Trainer(config, observers)
    if sampling is not None:
        from ..sampling import check_samplable

        check_samplable(trainer.model, trainer.task)  # before training, not after
        if args.prompt is None:
            sampling.prompt = trainer.task.decode(trainer.eval_batch.x[0, :4])
        trainer.task.encode(sampling.prompt)
    with stopped_by_signals(trainer.request_stop):
        try:
            result = trainer.run()
        except Exception as e:
            if run_id:  # the writer (_observers puts it last) records a failure, not a run left running
                observers[-1].close("failed", f"{type(e).__name__}: {e}")
            raise
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result.to_json(history=True), f)
    summary = result.to_json()
    if args.eval_seq_len is not None:
        loss, metrics = trainer.evaluate_at_length(args.eval_seq_len)
        summary["at_length"] = {"seq_len": args.eval_seq_len, "loss": loss, "metrics": metrics}
    if trainer.task.variable_length and result.steps and result.status != "diverged":
        from ..diagnostics.lengths import accuracy_by_length

        rows = accuracy_by_length(trainer.model, trainer.task, device=trainer.device)
        if rows:
            summary["accuracy_by_length"] = rows
    if run_id:
        summary["run_id"] = run_id
    if sampling is not None and result.status != "diverged":
        from ..sampling import sample_text

        text = sample_text(trainer.model, trainer.task, sampling)
        summary["sample"] = {**sampling.model_dump(), "text": text}
        verdict = trainer.task.assess(sampling.prompt, text)
        if verdict:
            summary["sample"]["assessment"] = verdict
    return Trained(summary, result, trainer.task.seq_len_meaning, trainer.task.seq_len, sampling)


def show(out: Trained, args) -> None:
    s, result = out.summary, out.result
    if "at_length" in s:
        a = s["at_length"]
        shown = ", ".join(f"{k} {v:.4g}" for k, v in a["metrics"].items())
        print(f"at --seq-len {a['seq_len']}: held-out loss {a['loss']:.4g}, {shown}")
    if "accuracy_by_length" in s:
        shown = ", ".join(f"{r['length']}: {r['sequence_accuracy']:.2f}" for r in s["accuracy_by_length"])
        print(f"sequence accuracy by {out.length_meaning} (trained ≤ {out.trained_length}): {shown}")
    if "sample" in s:
        sample = s["sample"]
        print(f"sample (τ = {sample['temperature']}, top-k {sample['top_k'] or 'all'}):")
        print(sample["prompt"] + sample["text"])
        if "assessment" in sample:
            print(f"judged against the corpus's rules: {sample['assessment']['summary']}")
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


def check_eval_length(config: RunConfig, seq_len: int) -> None:
    """Refuse before training what the evaluation would refuse or run out of memory on after it: a
    length the task cannot generate, a length a fixed-length model cannot read (the MLP's lesson),
    a forward pass over the memory limit."""
    from ..config import MAX_SEQ_LEN
    from ..errors import ConfigError, LengthMismatchError
    from ..models.memory import evaluation_memory
    from ..models.registry import model_class
    from ..tasks.registry import make_task

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
