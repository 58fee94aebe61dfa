"""``seqlab sweep``: a grid of settings × seeds on a process pool or Ray (``seqlab.sweep``), with mean and
spread per grid cell; without ``--grid``, the same run over several seeds."""

from __future__ import annotations

import sys

from ..sweep import PointResult, Sweep, parse_grid, parse_seeds, plan_sweep
from .common import add_run_flags, flat_from_args, stopped_by_signals


def register(sub) -> None:
    s = sub.add_parser("sweep", help="a grid of settings × seeds on a process pool or Ray, with mean and spread")
    add_run_flags(s, with_seed=False, required=False)
    s.add_argument(
        "--grid",
        nargs="+",
        metavar="NAME=V1,V2",
        default=[],
        help="settings to sweep, each over its values (any run setting, e.g. model=rnn,lstm,gru seq_len=10,25,50)",
    )
    s.add_argument("--seeds", default="0,1,2", help="seeds: comma-separated and/or ranges, e.g. 0-4 (default 0,1,2)")
    s.add_argument("--workers", type=int, help="worker processes (default: the number of cores)")
    s.add_argument("--backend", choices=("local", "ray"), default="local", help="local process pool, or Ray tasks")
    s.add_argument("--address", help="with --backend ray: auto or HOST:PORT of a Ray head (default: a local Ray)")
    s.add_argument("--json", action="store_true", help="print a JSON summary as the last stdout line")
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(func=run, view=show)


def run(args) -> dict:
    grid = parse_grid(args.grid)
    plan = plan_sweep(flat_from_args(args, skip=("seed",)), grid, parse_seeds(args.seeds))
    sweep = Sweep(
        plan,
        backend=args.backend,
        workers=args.workers,
        address=args.address,
        on_point=None if args.quiet else _progress,
    )
    sweep.prepare()
    if not args.quiet:
        for note in plan.skipped:
            print(f"seqlab: note: {note}", file=sys.stderr)
        print(
            f"sweep {plan.sweep_id}: {len(plan.points)} points on {args.backend} "
            f"({'Ray' if args.backend == 'ray' else f'{sweep.workers} worker(s)'})",
            file=sys.stderr,
            flush=True,
        )
    with stopped_by_signals(sweep.stop):
        result = sweep.run()
    out = result.to_json()
    if not grid:  # the single-config form keeps its JSON: every seed's run and the stats over them
        runs = sorted(result.results, key=lambda r: r.point.index)
        out.update(
            seeds=plan.seeds,
            runs=[r.result for r in runs],
            stats=out["cells"][0]["stats"] if out["cells"] else {},
        )
    return out


def _progress(r: PointResult, done: int, total: int, eta: float | None) -> None:
    shown = " ".join(f"{k}={v}" for k, v in r.point.settings.items())
    res = r.result
    line = f"[{done}/{total}] {shown}: {r.status}"
    if res.get("steps"):
        line += f", {res['steps']} steps, {res['seconds']:.1f}s"
    if res.get("final_loss") is not None:
        line += f", loss {res['final_loss']:.4g}"
    line += "".join(f", {k} {v:.4g}" for k, v in (res.get("metrics") or {}).items() if v is not None)
    if res.get("error"):
        line += f" ({res['error']})"
    if eta is not None and done < total:
        line += f" · ETA {int(eta // 60)}:{int(eta % 60):02d}"
    print(line, file=sys.stderr, flush=True)


def show(out: dict, args) -> None:
    counts = ", ".join(f"{n} {s}" for s, n in out["counts"].items())
    print(
        f"sweep {out['sweep_id']}: {out['total']} points in {out['seconds']:.1f}s ({counts}; "
        f"{out['resumed']} finished earlier)"
    )
    for c in out["cells"]:
        settings = " ".join(f"{k}={v}" for k, v in c["settings"].items()) or "all"
        stats = ", ".join(f"{k} {s['mean']:.4g} ± {s['std']:.2g}" for k, s in c["stats"].items())
        print(f"  {settings} (n={c['finished']}): {stats or 'no finished seeds'}")
