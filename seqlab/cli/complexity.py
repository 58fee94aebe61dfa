"""``seqlab complexity``: measured time, FLOPs and activation memory vs n, with log-log fits."""

from __future__ import annotations

import sys

from .common import UsageError, add_json_flag
from .render import cell


def register(sub) -> None:
    s = sub.add_parser("complexity", help="measured time, FLOPs and activation memory vs n, with log-log fits")
    s.add_argument(
        "--models", default="rnn,lstm,gpt", help="comma-separated model names, or attention-op (the operation alone)"
    )
    s.add_argument("--lengths", default="64,128,256,512", help="comma-separated, strictly increasing")
    s.add_argument("--d", type=int, default=64, help="hidden size d")
    s.add_argument("--batch-size", type=int, default=8)
    s.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="timed steps per point, at most (median; one once a step takes 0.1 s)",
    )
    s.add_argument(
        "--metrics",
        default="time,flops,memory,graph",
        help="what to measure: time (ms/step), flops, memory (saved + peak bytes), graph (depth, path length)",
    )
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.add_argument(
        "--fresh", action="store_true", help="measure every point again instead of reading $SEQLAB_HOME's cache"
    )
    add_json_flag(s)
    s.set_defaults(func=run, view=show)


def run(args):
    from ..complexity.sweep import parse_lengths, parse_metrics, sweep, validate

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    lengths = parse_lengths(args.lengths)
    metrics = parse_metrics(args.metrics)
    if args.repeats < 1:
        raise UsageError(f"must be ≥ 1 (got {args.repeats})", "repeats")
    validate(models, lengths, args.d, args.batch_size)  # refuse before measuring anything

    def progress(done, total, label):
        if not args.quiet:
            print(f"[{done}/{total}] {label}", file=sys.stderr, flush=True)

    return sweep(
        models, lengths, args.d, args.batch_size, args.repeats, progress=progress, metrics=metrics, fresh=args.fresh
    )


def show(out, args) -> None:
    from ..complexity import clock

    print(
        f"{'model':<14} {'n':>6} {'ms/step':>9} {'MFLOPs':>10} {'saved MiB':>10} {'peak MiB':>9} "
        f"{'seq. depth':>10} {'max path':>9}"
    )
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
    clock_note = clock.note(out.rows)
    if clock_note:
        print(f"ms/step: {clock_note}")
