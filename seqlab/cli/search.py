"""``seqlab search``: random search + successive halving over architectures, with Pareto fronts."""

from __future__ import annotations

from .common import add_json_flag


def register(sub) -> None:
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
    add_json_flag(s)
    s.set_defaults(func=run, view=show)


def run(args):
    from ..search import Search, SearchConfig, int_list

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
    return Search(config).run()


def show(out, args) -> None:
    print(f"{'architecture':<22} {'rung':>4} {'steps':>6} {out.metric:>10} {'params':>9} {'ms/step':>8}")
    for t in out.trials:
        print(f"{t.label:<22} {t.rung:>4} {t.steps:>6} {t.metric:>10.4g} {t.params:>9,} {t.ms_per_step:>8.2f}")
    if out.best:
        print(f"best: {out.best.label} ({out.metric} {out.best.metric:.4g})")
    print("Pareto front, score vs parameters: " + ", ".join(t.label for t in out.pareto_params))
