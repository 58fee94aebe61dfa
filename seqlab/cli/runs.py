"""``seqlab runs``: the stored runs, or one of them."""

from __future__ import annotations

import json

from .common import add_json_flag, warn


def register(sub) -> None:
    s = sub.add_parser("runs", help="list stored runs, or show one")
    s.add_argument("--show", metavar="RUN_ID", help="print one stored run")
    add_json_flag(s)
    s.set_defaults(func=run, view=show)


def run(args) -> dict:
    from ..store import RunStore, StoreError

    store = RunStore()
    if args.show is not None:
        found = store.load(args.show)
        if (found["result"] or found["config"]) is None:
            reasons = "; ".join(p.removeprefix(f"run {found['id']}: ") for p in found["problems"])
            raise StoreError(f"{found['id']!r} has nothing readable to show: {reasons}", "run")
        warn(found["problems"])
        return found
    runs = [store.summary(i) for i in store.ids()]
    warn([p for r in runs for p in r.get("problems", [])])
    return {"root": str(store.root), "runs": runs}


def show(out: dict, args) -> None:
    if args.show is not None:
        print(json.dumps(out["result"] or out["config"], indent=1))
        return
    if not out["runs"]:
        print(f"no stored runs in {out['root']}/ (train with --save to keep one)")
    for r in out["runs"]:
        loss = r.get("final_loss")
        print(f"{r['id']}  {r['status']:<14} {'' if loss is None else f'loss {loss:.4g}'}".rstrip())
