"""``seqlab list``: every model and task, with its options and what trains on what."""

from __future__ import annotations

from ..models.registry import MODELS, incompatibility
from ..tasks.registry import TASKS, make_task
from .common import add_json_flag, flag


def register(sub) -> None:
    s = sub.add_parser("list", help="models and tasks, with options and compatibility")
    add_json_flag(s)
    s.set_defaults(func=run, view=show)


def _options(cls) -> dict:
    return {f: {"default": fi.default, "help": fi.description} for f, fi in cls.Options.model_fields.items()}


def run(args) -> dict:
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
                "options": _options(cls),
                "tasks": [t for t in TASKS if incompatibility(cls, make_task(t)) is None],
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
                "options": _options(cls),
            }
        )
    return {"models": models, "tasks": tasks}


def show(out: dict, args) -> None:
    print("Models")
    for m in out["models"]:
        print(f"  {m['name']:<14} {m['year']}  {m['title']}: {m['summary']}")
        print(f"  {'':<14}       time {m['time']}, trains on: {', '.join(m['tasks'])}")
        for o, d in m["options"].items():
            print(f"  {'':<14}       {flag(o)} (default {d['default']}): {d['help']}")
    print("Tasks")
    for t in out["tasks"]:
        print(f"  {t['name']:<14} {t['description']}")
        print(
            f"  {'':<14} --seq-len = {t['seq_len_meaning']} (default {t['default_seq_len']}); "
            f"output {t['output']}, metrics {', '.join(t['metrics'])}"
        )
        for o, d in t["options"].items():
            print(f"  {'':<14} {flag(o)} (default {d['default']}): {d['help']}")
