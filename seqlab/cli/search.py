"""``seqlab search``: an Optuna study over architectures, successive halving by rungs, with Pareto fronts;
stored beside the run database, so ``--study NAME --resume`` continues it."""

from __future__ import annotations

from ..experiments.base import no_observers
from .common import add_json_flag, stopped_by_signals


def register(sub) -> None:
    s = sub.add_parser(
        "search", help="Optuna search + successive halving over architectures, with Pareto fronts (resumable)"
    )
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
    s.add_argument("--study", help="the study's name (default: a fresh one); letters, digits, '.', '_', '-'")
    s.add_argument(
        "--resume",
        action="store_true",
        help="continue --study with its stored settings (only --budget, --workers, --backend, --address new)",
    )
    s.add_argument("--study-dir", help="folder of studies.journal (default: $SEQLAB_HOME, else ~/.seqlab)")
    s.add_argument(
        "--workers",
        type=int,
        help="trials trained at once; above 1, on a local process pool (default: 1; on Ray, the cluster's CPUs)",
    )
    s.add_argument("--backend", choices=("local", "ray"), default="local", help="where the trainings run")
    s.add_argument("--address", help="with --backend ray: auto or HOST:PORT of the cluster (default: a local Ray)")
    s.add_argument(
        "--brackets", type=int, default=1, help="halving brackets of --trials new architectures; 0: until --budget"
    )
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
            "study": args.study,
            "resume": args.resume,
            "study_dir": args.study_dir,
            "workers": args.workers,
            "brackets": args.brackets,
            "backend": args.backend,
            "address": args.address,
        }
    )
    from ..store import new_run_id, recorded, usable_store

    search = Search(config)  # refuses a bad study before a word about recording is printed
    group = f"search-{new_run_id(config.study or 'cli', config.task)}"
    search.observers = recorded(no_observers, usable_store(), group_id=group, tag="search", source="cli")
    with stopped_by_signals(search.stop):  # a stopped study resumes (--resume) from what it told
        return search.run()


def show(out, args) -> None:
    print(f"{'architecture':<22} {'rung':>4} {'steps':>6} {out.metric:>10} {'params':>9} {'ms/step':>8}")
    for t in out.trials:
        print(f"{t.label:<22} {t.rung:>4} {t.steps:>6} {t.metric:>10.4g} {t.params:>9,} {t.ms_per_step:>8.2f}")
    if out.best:
        print(f"best: {out.best.label} ({out.metric} {out.best.metric:.4g})")
    print("Pareto front, score vs parameters: " + ", ".join(t.label for t in out.pareto_params))
    print("Pareto front, score vs ms/step: " + ", ".join(t.label for t in out.pareto_time))
    print(f"study {out.study} in {out.storage} (continue: seqlab search --study {out.study} --resume)")
