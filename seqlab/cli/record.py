"""``seqlab record``: train a page's presets ahead of class and keep them in the run database, so the page
can replay them (at 1×, 10× or instantly) without training while students watch."""

from __future__ import annotations

import difflib
import sys

from .common import UsageError, add_json_flag


def register(sub) -> None:
    s = sub.add_parser("record", help="train and record a page's presets for replay in class")
    s.add_argument("--page", required=True, help="the page whose presets to record (recurrent, seq2seq, …)")
    which = s.add_mutually_exclusive_group(required=True)
    which.add_argument("--preset", help="the preset's name, or its name as in a link (vanishing-gradients-…)")
    which.add_argument("--all", action="store_true", help="every preset of the page, one after another")
    s.add_argument("--budget", type=float, default=300.0, help="stop a preset's runs after this many seconds")
    s.add_argument("--margin", type=float, help="seconds to train on after the lesson shows (default: the page's)")
    add_json_flag(s)
    s.set_defaults(func=run, view=show)


def chosen(page: str, name: str | None) -> list:
    """The page's presets ``name`` picks (all without a name); an unknown page or preset is refused naming
    the nearest one."""
    from ..presets import PRESETS, slug

    if page not in PRESETS:
        near = difflib.get_close_matches(page, list(PRESETS), n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise UsageError(f"{page!r} has no presets{hint} (pages with presets: {', '.join(PRESETS)})", "page")
    presets = PRESETS[page]
    if name is None:
        return list(presets)
    found = [p for p in presets if name in (p.name, slug(p.name))]
    if not found:
        names = [slug(p.name) for p in presets]
        near = difflib.get_close_matches(slug(name), names, n=1, cutoff=0.4)
        hint = f"; did you mean {near[0]!r}?" if near else f" (its presets: {', '.join(names)})"
        raise UsageError(f"{page!r} has no preset {name!r}{hint}", "preset")
    return found


def run(args) -> dict:
    from ..presets import DEFAULTS, LESSON_MARGIN_S
    from ..replay import record_preset
    from ..store import RunStore

    if not args.budget > 0:
        raise UsageError(f"must be more than 0 seconds, got {args.budget}", "budget")
    if args.margin is not None and not args.margin >= 0:
        raise UsageError(f"must be at least 0 seconds, got {args.margin}", "margin")
    presets = chosen(args.page, None if args.all else args.preset)
    store = RunStore()
    store.ensure_writable()  # a bad home is refused before anything trains
    rows = []
    for preset in presets:
        margin = args.margin if args.margin is not None else preset.margin or LESSON_MARGIN_S
        print(f"recording {args.page}: {preset.name} …", file=sys.stderr, flush=True)
        rows.append(record_preset(args.page, preset, store, DEFAULTS[args.page], args.budget, margin))
    return {"db": str(store.path), "recorded": rows}


def show(out: dict, args) -> None:
    for r in out["recorded"]:
        lesson = "" if r["lesson_seconds"] is None else f", lesson visible at {r['lesson_seconds']:.0f} s"
        runs = ", ".join(f"{x['label']} {x['steps']:,} steps ({x['status']})" for x in r["runs"])
        print(f"{r['page']}: {r['preset']} — {runs}; {r['seconds']:.0f} s{lesson}; tagged {r['tag']}")
    print(f"recorded into {out['db']}; the page's preset now offers to replay it")
