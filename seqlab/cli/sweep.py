"""``seqlab sweep``: the same run over several seeds, with mean and spread."""

from __future__ import annotations

import sys

from ..config import RunConfig
from ..train.engine import Trainer
from .common import UsageError, add_run_flags, flat_from_args, int_list


def register(sub) -> None:
    s = sub.add_parser("sweep", help="the same run over several seeds, with mean and spread")
    add_run_flags(s, with_seed=False)
    s.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run, view=show)


def run(args) -> dict:
    """The researcher's what-if, with mean and spread."""
    seeds = int_list(args.seeds, "seeds")
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:  # the same seed twice is the same run twice: a spread of 0 that measures nothing
        raise UsageError(f"seed {', '.join(map(str, twice))} appears more than once; give distinct seeds", "seeds")
    runs = []
    for seed in seeds:
        config = RunConfig.from_flat({**flat_from_args(args, skip=("seed",)), "seed": seed})
        result = Trainer(config).run()
        runs.append(result.to_json())
        m = ", ".join(f"{k} {v:.4g}" for k, v in result.metrics.items())
        print(
            f"seed {seed}: {result.status}, {result.steps} steps, {result.seconds:.1f}s, "
            f"loss {result.final_loss:.4g}, {m}",
            file=sys.stderr,
            flush=True,
        )
    keys = sorted({k for r in runs for k in r["metrics"]} | {"final_loss"})
    stats = {}
    for k in keys:
        vals = [r["final_loss"] if k == "final_loss" else r["metrics"].get(k) for r in runs]
        vals = [v for v in vals if v is not None]
        if vals:
            mean = sum(vals) / len(vals)
            sd = (sum((v - mean) ** 2 for v in vals) / max(1, len(vals) - 1)) ** 0.5
            stats[k] = {"mean": mean, "std": sd, "min": min(vals), "max": max(vals), "n": len(vals)}
    return {"seeds": seeds, "runs": runs, "stats": stats}


def show(out: dict, args) -> None:
    for k, s in out["stats"].items():
        print(f"{k}: mean {s['mean']:.4g} ± {s['std']:.2g} (n={s['n']})")
