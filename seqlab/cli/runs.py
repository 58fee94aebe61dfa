"""``seqlab runs``: the run database — list and filter, show one, rename, tag, delete, import old folders."""

from __future__ import annotations

import json
import time

from .common import UsageError, add_json_flag, one_line, warn


def glue_descending(argv: list[str]) -> list[str]:
    """``--sort -steps`` → ``--sort=-steps``: argparse reads a value with a leading dash as an unknown flag
    and refuses it, though a descending sort key is the natural thing to type."""
    out: list[str] = []
    for a in argv:
        if out and out[-1] == "--sort" and a.startswith("-") and a[1:2].isalpha():
            out[-1] = f"--sort={a}"
        else:
            out.append(a)
    return out


def register(sub) -> None:
    s = sub.add_parser(
        "runs", help="list the recorded runs ($SEQLAB_HOME/seqlab.db), show one, or rename/tag/delete/import"
    )
    s.add_argument("--show", metavar="RUN_ID", help="print one stored run")
    s.add_argument("--model", help="only runs of this model")
    s.add_argument("--task", help="only runs on this task")
    s.add_argument("--status", help="only runs with this status (running, completed, interrupted, stopped, …)")
    s.add_argument("--tag", help="only runs with this tag")
    s.add_argument("--group", help="only the runs of this seed group or sweep")
    s.add_argument(
        "--sort",
        default="-created",
        help="created, name, model, task, status, steps, seconds or "
        "final_loss; a leading - sorts descending, as in --sort -steps (default: newest first)",
    )
    s.add_argument("--limit", type=int, help="at most this many runs")
    add_json_flag(s)
    actions = s.add_subparsers(dest="action", parser_class=type(s), metavar="{rename,tag,delete,import}")
    a = actions.add_parser("rename", help="give a run a name")
    a.add_argument("run_id", metavar="RUN_ID")
    a.add_argument("name", metavar="NAME")
    add_json_flag(a)
    a = actions.add_parser("tag", help="add a tag to a run")
    a.add_argument("run_id", metavar="RUN_ID")
    a.add_argument("tag_name", metavar="TAG")
    add_json_flag(a)
    a = actions.add_parser("delete", help="delete a run and everything recorded for it")
    a.add_argument("run_id", metavar="RUN_ID")
    a.add_argument("--yes", action="store_true", help="really delete (it cannot be undone)")
    add_json_flag(a)
    a = actions.add_parser("import", help="bring in the run folders of the old folder store (e.g. runs/)")
    a.add_argument("dir", metavar="DIR")
    add_json_flag(a)
    s.set_defaults(func=run, view=show)


def run(args) -> dict:
    from ..store import RunStore

    store = RunStore()
    if args.action is not None:
        return {"action": args.action, "db": str(store.path), **ACTIONS[args.action](store, args)}
    if args.show is not None:
        found = store.load(args.show)
        warn(found["problems"])
        return {"action": "show", "run": found}
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"must be at least 1, got {args.limit}", "limit")
    runs = store.list(
        model=args.model,
        task=args.task,
        status=args.status,
        tag=args.tag,
        group=args.group,
        sort=args.sort,
        limit=args.limit,
    )
    return {"action": "list", "db": str(store.path), "runs": runs}


def _rename(store, args) -> dict:
    store.rename(args.run_id, args.name)
    return {"id": args.run_id, "name": args.name}


def _tag(store, args) -> dict:
    store.tag(args.run_id, args.tag_name)
    return {"id": args.run_id, "tags": store.summary(args.run_id)["tags"]}


def _delete(store, args) -> dict:
    run = store.summary(args.run_id)  # an unknown id is refused before the missing --yes
    if not args.yes:
        raise UsageError(
            f"deleting run {args.run_id!r} ({run['model']} on {run['task']}, {run['steps']} steps) cannot be "
            "undone; add --yes to delete it",
            "yes",
        )
    store.delete(args.run_id)
    return {"id": args.run_id, "deleted": True}


def _import(store, args) -> dict:
    store.ensure_writable()
    done = store.import_folder(args.dir)
    warn(done["problems"])
    return done


ACTIONS = {"rename": _rename, "tag": _tag, "delete": _delete, "import": _import}


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def show(out: dict, args) -> None:
    action = out["action"]
    if action == "show":
        run = dict(out["run"])
        history = run.pop("history")
        run["records"] = {k: len(v) for k, v in history.items()}
        print(json.dumps(run, indent=1))
    elif action == "list":
        if not out["runs"]:
            print(f"no stored runs in {out['db']} (train with --save, or in the app, to record one)")
        for r in out["runs"]:
            loss = "" if r["final_loss"] is None else f"loss {r['final_loss']:.4g}"
            tags = f"  [{', '.join(r['tags'])}]" if r["tags"] else ""
            name = f"  {one_line(r['name'])!r}" if r["name"] else ""
            print(
                f"{r['id']}  {r['status']:<14} {r['model']:<8} {r['task']:<10} {r['steps']:>7} steps  "
                f"{_when(r['created'])}  {loss}{name}{tags}".rstrip()
            )
    elif action == "rename":
        print(f"{out['id']}: named {out['name']!r}")
    elif action == "tag":
        print(f"{out['id']}: tags {', '.join(out['tags'])}")
    elif action == "delete":
        print(f"{out['id']}: deleted")
    elif action == "import":
        print(f"imported {len(out['imported'])} run(s) into {out['db']}")
        for s in out["skipped"]:
            print(f"  skipped {s['id']}: {s['reason']}")
