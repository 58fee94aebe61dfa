"""Export for slides and notebooks: a chart as PNG or SVG, a chart's data as CSV, runs as CSV or JSON.

A chart is exported from the very Vega-Lite spec the page draws (``Figure.to_dict()`` in
``seqlab.ui.charts``; this module takes the dict, so the library never imports the UI), rendered
without a browser by vl-convert (Vega in an embedded JavaScript engine). Pages size charts to their
column (``width: "container"``); a file has no container, so the width is fixed here.

A run is the dict ``RunStore().load(run_id)`` returns — ``{"id", "config", "history": {"train",
"eval"}, "result"}`` — and a live app run is put in the same shape by ``run_from_snapshot``, so the
app, the CLI and a notebook export the same columns. CSV floats are written at full precision
(``repr``), so the file reads back to the very values recorded.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict
from typing import Any

import pandas as pd

from .errors import SeqlabError
from .train.records import clean_json

EXPORT_WIDTH = 640  # px: about a slide's half width at the 2× scale below
PNG_SCALE = 2  # pixels per CSS pixel: sharp on a projector and a retina screen
FORMATS = ("csv", "json", "png", "svg")


class ExportError(SeqlabError):
    """Nothing to export, or an export that cannot be made as asked."""


# -- charts -----------------------------------------------------------------------------------------
def _records(df: pd.DataFrame) -> list[dict]:
    # through JSON so numpy scalars become plain numbers and NaN/inf become null (Vega's "no value")
    return json.loads(df.to_json(orient="records", double_precision=15))


def static_spec(spec: dict, width: int = EXPORT_WIDTH) -> dict:
    """``spec`` with inline datasets as plain records and a fixed width instead of the container's."""
    out = dict(spec)
    out["datasets"] = {
        k: _records(v) if isinstance(v, pd.DataFrame) else v for k, v in (spec.get("datasets") or {}).items()
    }
    if out.get("width") == "container":
        out["width"] = width
    for key in ("layer", "vconcat", "hconcat"):
        if key in out:
            out[key] = [{**layer, "width": width} if layer.get("width") == "container" else layer for layer in out[key]]
    return out


def _has_data(spec: dict) -> bool:
    return any(len(v) for v in (spec.get("datasets") or {}).values())


def to_png(spec: dict, width: int = EXPORT_WIDTH, scale: float = PNG_SCALE) -> bytes:
    import vl_convert as vlc

    if not _has_data(spec):
        raise ExportError("the chart has no data yet; train first", "chart")
    return vlc.vegalite_to_png(static_spec(spec, width), scale=scale)


def to_svg(spec: dict, width: int = EXPORT_WIDTH) -> str:
    import vl_convert as vlc

    if not _has_data(spec):
        raise ExportError("the chart has no data yet; train first", "chart")
    return vlc.vegalite_to_svg(static_spec(spec, width))


def chart_csv(datasets: dict[str, pd.DataFrame]) -> str:
    """Every dataset a chart draws, in one table: a ``dataset`` column names where each row came from,
    the other columns are the union of the datasets' columns (empty where a dataset lacks one)."""
    parts = [df.assign(dataset=name) for name, df in datasets.items() if len(df)]
    if not parts:
        raise ExportError("the chart has no data yet; train first", "chart")
    table = pd.concat(parts, ignore_index=True)
    return table[["dataset", *[c for c in table.columns if c != "dataset"]]].to_csv(index=False)


# -- runs ------------------------------------------------------------------------------------------
def run_from_snapshot(snap) -> dict[str, Any]:
    """A live run (``seqlab.train.live.Snapshot``) in the run store's shape."""
    return {
        "id": snap.id,
        "label": snap.label,
        "config": snap.config.model_dump(),
        "history": {"train": [asdict(r) for r in snap.train], "eval": [asdict(r) for r in snap.eval]},
        "result": snap.result.to_json() if snap.result is not None else None,
    }


def records_frame(runs: list[dict]) -> pd.DataFrame:
    """One row per train and eval record of every run: run, kind, step, loss, grad_norm, elapsed, one
    column per held-out metric, and ‖∂L/∂x_t‖ as grad_t1 … grad_tT (so a spreadsheet can plot them)."""
    rows = []
    for run in runs:
        for kind in ("train", "eval"):
            for rec in run["history"].get(kind, []):
                row = {"run": run["id"], "kind": kind, "step": rec["step"], "loss": rec["loss"]}
                if kind == "train":
                    row["grad_norm"] = rec.get("grad_norm")
                    for t, v in enumerate(rec.get("grad_by_time") or [], 1):
                        row[f"grad_t{t}"] = v
                else:
                    row.update(rec.get("metrics") or {})
                row["elapsed"] = rec.get("elapsed")
                rows.append(row)
    if not rows:
        names = ", ".join(r["id"] for r in runs) or "no runs"
        raise ExportError(f"nothing to export: {names} recorded no steps yet", "run")
    table = pd.DataFrame(rows)
    grads = sorted((c for c in table.columns if c.startswith("grad_t")), key=lambda c: int(c[6:]))
    first = ["run", "kind", "step", "loss", "grad_norm", "elapsed"]
    metrics = [c for c in table.columns if c not in first and c not in grads]
    return table[[c for c in first if c in table.columns] + metrics + grads]


def records_csv(runs: list[dict]) -> str:
    return records_frame(runs).to_csv(index=False)


def runs_json(runs: list[dict]) -> dict[str, Any]:
    """Config and result of each run (the records are the CSV's job); a run still training has no result."""
    if not runs:
        raise ExportError("nothing to export: no runs given", "run")
    return clean_json({"runs": [{"id": r["id"], "config": r.get("config"), "result": r.get("result")} for r in runs]})


def runs_json_text(runs: list[dict]) -> str:
    return json.dumps(runs_json(runs), indent=1, allow_nan=False)


def read_records_csv(text: str) -> pd.DataFrame:
    """A records CSV read back exactly (pandas ≥ 3 parses floats round-trip), for notebooks and the tests."""
    return pd.read_csv(io.StringIO(text))


# -- stored runs back into charts -----------------------------------------------------------------------
def run_labels(runs: list[dict]) -> list[str]:
    """Chart labels for stored runs: the model's name; runs of one model told apart by their seeds
    (``lstm · seed 1``, so the charts band them) or, when the seeds repeat too, by their ids."""
    from .bands import seed_label

    def model(run: dict) -> str:
        return ((run.get("config") or {}).get("model") or {}).get("name") or run.get("model") or run["id"]

    def seed(run: dict):
        return ((run.get("config") or {}).get("train") or {}).get("seed")

    labels = []
    for run in runs:
        same = [r for r in runs if model(r) == model(run)]
        seeds = [seed(r) for r in same]
        if len(same) == 1:
            labels.append(model(run))
        elif None not in seeds and len(set(seeds)) == len(seeds):
            labels.append(seed_label(model(run), seed(run)))
        else:
            labels.append(f"{model(run)} {run['id']}")
    return labels


def _num(x) -> float:
    return float("nan") if x is None else float(x)  # the store writes NaN/inf as null


def stored_snapshots(runs: list[dict]):
    """Stored runs as the live view's snapshots (``seqlab.train.live.Snapshot``), so the CLI draws a stored
    run with the very chart builders the pages use."""
    from .config import RunConfig
    from .train.live import Snapshot
    from .train.records import EvalRecord, StepRecord

    snaps = []
    for run, label in zip(runs, run_labels(runs), strict=True):
        result = run.get("result") or {}
        train = [
            StepRecord(
                r["step"], _num(r.get("loss")), _num(r.get("grad_norm")), r.get("grad_by_time"), r.get("elapsed", 0.0)
            )
            for r in run["history"].get("train", [])
        ]
        ev = [
            EvalRecord(
                r["step"],
                _num(r.get("loss")),
                {k: _num(v) for k, v in (r.get("metrics") or {}).items()},
                r.get("elapsed", 0.0),
            )
            for r in run["history"].get("eval", [])
        ]
        try:
            config = RunConfig.model_validate(run["config"]) if run.get("config") else None
        except ValueError:  # a config from another version: the charts need only the records
            config = None
        snaps.append(
            Snapshot(
                id=run["id"],
                label=label,
                config=config,
                status=result.get("status") or run.get("status") or "unknown",
                steps=train[-1].step if train else 0,
                total_steps=config.train.steps if config else 0,
                elapsed=result.get("seconds") or 0.0,
                train=train,
                eval=ev,
                baseline_loss=result.get("baseline_loss"),
                baseline_metrics=result.get("baseline_metrics") or {},
                params=result.get("params"),
                result=None,
                error=result.get("error"),
            )
        )
    return snaps
