"""The Sweeps page's logic: grid controls, a sweep launched as a background job (``seqlab.jobs``) on the
process pool, its progress and Stop, and the two result charts (a metric vs one setting with seed
bands, and a heatmap over two settings), redrawn from the points finished so far."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ..errors import SeqlabError
from ..sweep import FINISHED, PointResult, Sweep, cells, parse_grid, parse_seeds, plan_sweep
from . import charts
from .jobview import job_error, until_ended
from .panels import show
from .state import keep_job, large_fonts, owner, registry, session_job

TASKS = ("adding", "parity", "copy", "recall", "reverse", "sort")
MODELS = ("rnn", "lstm", "gru", "gpt", "ssm", "selective-ssm", "mlp")
# the classic result (Hochreiter & Schmidhuber 1997; Chung et al. 2014): gated cells keep solving the adding
# problem as T grows where the plain RNN falls back to the blind baseline (MSE ≈ 0.167)
PRESET = {
    "models": ["rnn", "lstm", "gru"],
    "task": "adding",
    "fields": "seq_len=10,25,50,100,200",
    "seeds": "0-2",
    "steps": 400,
}
PRESET_NAME = "RNN vs LSTM vs GRU on adding, T=10…200"


def band_rows(results: list[PointResult], x: str, series: str, metric: str) -> pd.DataFrame:
    """One row per (series, x) cell: mean, std and mean ± std of ``metric`` over the cell's finished seeds."""
    rows = []
    for c in cells(results):
        s = c["stats"].get(metric)
        if s is None or x not in c["settings"]:
            continue
        label = str(c["settings"].get(series, "all"))
        rows.append({"series": label, "x": float(c["settings"][x]), "mean": s["mean"], "std": s["std"], "n": s["n"]})
    df = pd.DataFrame(rows, columns=["series", "x", "mean", "std", "n"])
    return df.assign(lo=df["mean"] - df["std"], hi=df["mean"] + df["std"]).sort_values(["series", "x"])


def heat_rows(results: list[PointResult], x: str, y: str, metric: str) -> pd.DataFrame:
    """Mean of ``metric`` per (x, y) pair of settings, averaged over seeds and any other grid field."""
    rows = [
        {"x": str(r.point.settings[x]), "y": str(r.point.settings[y]), "value": r.metrics[metric]}
        for r in results
        if r.status in FINISHED and metric in r.metrics and x in r.point.settings and y in r.point.settings
    ]
    df = pd.DataFrame(rows, columns=["x", "y", "value"])
    return df.groupby(["x", "y"], sort=False)["value"].agg(mean="mean", n="count").reset_index()


def _launch(page: str, models: list[str], task: str, fields: str, seeds: str, steps: int, workers: int) -> None:
    grid = {"model": list(models), **parse_grid(fields.split())}
    plan = plan_sweep({"task": task, "steps": steps}, grid, parse_seeds(seeds))
    sweep = Sweep(plan, workers=workers)

    def work(job):
        from ..jobs import Progress

        job.on_stop(sweep.stop)
        job.progress_from(lambda: Progress(*sweep.progress(), f"{sweep.progress()[0]} of {len(plan.points)} points"))
        return sweep.run()

    st.session_state[f"{page}:sweep"] = sweep
    keep_job(f"{page}:sweep", registry().submit("sweep", f"sweep {plan.sweep_id}", owner(), work))


def sweep_section(page: str) -> None:
    """Controls, Launch, progress + Stop while it runs, and the two charts."""
    if st.button(f"Preset: {PRESET_NAME}", key=f"{page}:preset"):
        for k, v in PRESET.items():
            st.session_state[f"{page}:{k}"] = v
    for k, v in PRESET.items():
        st.session_state.setdefault(f"{page}:{k}", v)
    c1, c2, c3 = st.columns([2, 1, 2])
    models = c1.multiselect("models (one grid field)", MODELS, key=f"{page}:models")
    task = c2.selectbox("task", TASKS, key=f"{page}:task")
    fields = c3.text_input("more grid fields: NAME=V1,V2 …", key=f"{page}:fields")
    c4, c5, c6 = st.columns(3)
    seeds = c4.text_input("seeds (e.g. 0-4)", key=f"{page}:seeds")
    steps = c5.number_input("training steps per point", 1, 100_000, key=f"{page}:steps")
    workers = c6.number_input("worker processes", 1, 64, value=2, key=f"{page}:workers")
    if st.button("Launch sweep", key=f"{page}:launch", disabled=not models, type="primary"):
        try:
            _launch(page, models, task, fields, seeds, int(steps), int(workers))
        except SeqlabError as e:
            st.error(f"Cannot sweep with these settings — {e}", icon="⚠️")
    sweep: Sweep | None = st.session_state.get(f"{page}:sweep")
    job = session_job(f"{page}:sweep")
    if sweep is None or job is None:
        st.caption("Choose the grid and press Launch: every combination × every seed trains on a process pool.")
        return

    def view():
        done, total = sweep.progress()
        st.progress(done / max(1, total), text=f"sweep {sweep.plan.sweep_id} {job.status}: {done} of {total} points")
        if not job.ended and st.button("Stop", key=f"{page}:stop"):
            registry().stop_job(job.id, owner())
        job_error(job, "The sweep")
        for note in sweep.plan.skipped:
            st.info(note)
        results_panel(page, sweep)

    if job.ended:
        view()
    else:
        until_ended(job, view)


def results_panel(page: str, sweep: Sweep) -> None:
    results = sweep.snapshot()
    counts = pd.Series([r.status for r in results]).value_counts().to_dict() if results else {}
    if counts:
        st.caption("points: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    metrics = sorted({k for r in results if r.status in FINISHED for k in r.metrics})
    fields = [f for f in sweep.plan.grid if f != "model"]
    if not metrics:
        return
    preferred = [m for m in metrics if m != "final_loss"] or metrics
    metric = st.selectbox("metric", metrics, index=metrics.index(preferred[0]), key=f"{page}:metric")
    numeric = [f for f in fields if all(_is_number(v) for v in sweep.plan.grid[f])]
    a, b = st.columns(2)
    if numeric:
        with a:
            x = numeric[0]
            show(charts.sweep_band_chart(band_rows(results, x, "model", metric), x, _x_title(x), metric, large_fonts()))
    pair = ["model", *fields]
    if len(pair) >= 2:
        with b:
            show(charts.sweep_heatmap(heat_rows(results, pair[1], pair[0], metric), pair[1], pair[0], metric))


def _x_title(field: str) -> str:
    return "sequence length T (steps)" if field == "seq_len" else field


def _is_number(v) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False
