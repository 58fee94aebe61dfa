"""``seqlab export RUN_ID… --format csv|json|png|svg [--chart NAME] [--out FILE]``: stored runs for slides and
notebooks. csv: every record (or, with ``--chart``, the data that chart draws); json: config and result;
png/svg: a chart drawn by the pages' own builders. Runs of one model with distinct seeds are drawn as their
mean over a ±1 std band, as in the app."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ..errors import unknown_name
from .common import UsageError, add_json_flag

# chart name → the key of ``seqlab.ui.charts.panel_figures``'s result
CHARTS = {"loss": "loss", "metric": "metric", "grad-profile": "latest", "grad-heatmap": "heatmaps"}
SUFFIX = {"csv": ".csv", "json": ".json", "png": ".png", "svg": ".svg"}


def register(sub) -> None:
    from ..export import FORMATS

    s = sub.add_parser("export", help="stored runs as CSV records, JSON config + result, or a chart as PNG/SVG")
    s.add_argument("runs", nargs="+", metavar="RUN_ID", help="one or more stored runs (`seqlab runs` lists them)")
    s.add_argument("--format", required=True, choices=FORMATS)
    s.add_argument("--chart", help=f"one of: {', '.join(CHARTS)} (png/svg default: loss; csv: that chart's data)")
    s.add_argument("--out", metavar="FILE", help="write here (a folder: a file named after the runs inside it)")
    s.add_argument("--individual", action="store_true", help="seed groups: draw each seed's curve too")
    add_json_flag(s)
    s.set_defaults(func=run, view=show)


def run(args) -> dict:
    from .. import export
    from ..store import RunStore

    chart = _chart_name(args) or ("loss" if args.format in ("png", "svg") else None)
    path = _destination(args, chart)  # a bad --out is refused before anything is read or drawn
    store = RunStore()
    runs = [store.load(i) for i in dict.fromkeys(args.runs)]
    if args.format == "json":
        data: bytes | str = export.runs_json_text(runs)
    elif args.format == "csv" and chart is None:
        data = export.records_csv(runs)
    else:
        fig = _figure(runs, chart, args.individual)
        data = {"csv": lambda: export.chart_csv(fig.data), "png": lambda: export.to_png(fig.to_dict())}.get(
            args.format, lambda: export.to_svg(fig.to_dict())
        )()
    out = {"format": args.format, "chart": chart, "runs": [r["id"] for r in runs]}
    raw = data if isinstance(data, bytes) else data.encode()
    if path is None:  # text to stdout, shown by ``show`` (or carried in the JSON line)
        return {**out, "out": None, "bytes": len(raw), "content": data}
    try:
        path.write_bytes(raw)
    except OSError as e:
        raise UsageError(f"cannot write {str(path)!r} ({e.strerror})", "out") from None
    return {**out, "out": str(path), "bytes": len(raw)}


def show(out: dict, args) -> None:
    if out["out"] is None:
        sys.stdout.write(out["content"] if out["content"].endswith("\n") else out["content"] + "\n")
    else:
        print(f"wrote {out['out']} ({out['bytes']:,} bytes)")


def _chart_name(args) -> str | None:
    if args.chart is None:
        return None
    if args.format == "json":
        raise UsageError("a chart exports as png, svg or csv; json holds each run's config and result", "chart")
    if args.chart not in CHARTS:
        raise unknown_name("chart", args.chart, CHARTS, "chart")
    return args.chart


def _figure(runs: list[dict], chart: str, individual: bool):
    from ..export import ExportError, stored_snapshots
    from ..ui import charts  # the CLI, like app.py, is an entry point: it may reach the chart builders

    snaps = stored_snapshots(runs)
    figs = charts.panel_figures(snaps, [s.label for s in snaps], individual=individual)
    fig = figs[CHARTS[chart]]
    names = ", ".join(r["id"] for r in runs)
    if chart == "grad-heatmap":
        if len(fig) > 1:
            raise ExportError(
                f"grad-heatmap draws one run (or one model's seeds); these runs make {len(fig)} heatmaps: "
                "export them one at a time",
                "chart",
            )
        fig = fig[0] if fig else None
    if fig is None:
        what = (
            "held-out evaluation" if chart == "metric" else "gradient-by-time records" if "grad" in chart else "steps"
        )
        raise ExportError(f"nothing to export: {names} recorded no {what}", "chart")
    return fig


def _stem(ids: list[str], chart: str | None) -> str:
    # the store refuses an id that is not one safe path component, but the name is made before it is asked
    first = re.sub(r"[^A-Za-z0-9._-]", "_", ids[0]).lstrip(".") or "run"
    more = f"+{len(ids) - 1}" if len(ids) > 1 else ""
    return f"{first}{more}" + (f"-{chart}" if chart else "")


def _destination(args, chart: str | None) -> Path | None:
    """Where to write: ``--out`` (a file, or a folder to name the file in), else stdout for text formats and a
    file named after the runs in the current folder for images. Never a path the user did not name: the
    parent folder must exist (nothing is created), and a named file must carry the format's suffix."""
    suffix = SUFFIX[args.format]
    if args.out is None:
        if args.format in ("csv", "json"):
            return None
        folder = Path.cwd()
    else:
        given = Path(args.out)
        if given.is_dir():
            folder = given
        else:
            if not given.parent.is_dir():
                raise UsageError(f"{args.out!r}: folder {str(given.parent)!r} does not exist", "out")
            if given.suffix.lower() != suffix:
                raise UsageError(f"{args.out!r} does not end in {suffix} but the format is {args.format}", "out")
            return given
    return folder / f"{_stem(list(dict.fromkeys(args.runs)), chart)}{suffix}"
