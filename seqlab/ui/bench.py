"""What watching a run costs: the page's redraw timed against a training run (``seqlab bench``). It
lives in the UI package because it drives the UI's own chart builders; the library's benches are in
``seqlab.bench``."""

from __future__ import annotations

import statistics
import time

from ..config import RunConfig
from ..home import temporary_home


def bench_live(
    model: str = "lstm", task: str = "adding", seq_len: int = 50, rounds: int = 12, poll: float | None = None
) -> dict:
    """How much does watching a run slow it? One run trains in its worker thread while this thread
    alternates poll periods with no viewer and with a viewer that redraws the three panels once
    (snapshot → frames → figures → Arrow, exactly what a page's fragment does each period).

    Reports the redraw's own time as a fraction of the period (its direct cost) and the measured
    ratio of training speed unwatched / watched (the target: ≤ 1.05), whose noise on a shared
    machine is a few per cent — hence the median over many short alternating periods."""
    import pyarrow as pa

    from ..train.live import RunRegistry
    from .charts import panel_figures
    from .frames import LIVE_POLL_SECONDS

    poll = LIVE_POLL_SECONDS if poll is None else poll

    def redraw(run) -> None:
        snap = run.snapshot()
        figs = panel_figures([snap], [snap.label])
        for fig in [figs["loss"], figs["metric"], figs["latest"], *figs["heatmaps"]]:
            if fig is not None:
                for df in fig.data.values():
                    pa.Table.from_pandas(df)

    cfg = RunConfig.from_flat({"model": model, "task": task, "seq_len": seq_len, "steps": 10_000_000, "device": "cpu"})
    (run,) = RunRegistry(max_running=1).start_group([(model, cfg)], owner="bench")
    rates: dict[bool, list[float]] = {False: [], True: []}
    redraw_ms: list[float] = []
    try:
        while run.snapshot().steps < 20:
            time.sleep(0.05)
        redraw(run)  # builds the cached chart templates once, as the first page view does
        for r in range(2 * rounds):
            watched = r % 2 == 1
            s0, t0 = run.trainer.steps_done, time.perf_counter()
            if watched:
                redraw(run)
                redraw_ms.append((time.perf_counter() - t0) * 1000)
            time.sleep(max(0.0, poll - (time.perf_counter() - t0)))
            rates[watched].append((run.trainer.steps_done - s0) / (time.perf_counter() - t0))
    finally:
        run.stop()
        run.join(5)
    off, on = statistics.median(rates[False]), statistics.median(rates[True])
    ms = statistics.median(redraw_ms)
    return {
        "model": model,
        "poll_seconds": poll,
        "redraw_ms": ms,
        "redraw_fraction": ms / 1000 / poll,
        "steps_per_s_unwatched": off,
        "steps_per_s_watched": on,
        "slowdown": off / on,
    }


def bench_complexity_panel(
    models: tuple[str, ...] = ("rnn", "lstm", "gru"), d: int = 64, lengths: tuple[int, ...] | None = None
) -> dict:
    """How long a page's complexity panel takes to draw, three times over: a first visit with nothing kept
    (it measures), a second visit to the same server, and a first visit after a restart (the disk cache
    alone). A draw is what ``panels.complexity_panel`` does without Streamlit: the disk cache's check, the
    quick sweep, the two charts, and their data as Arrow tables, the form the browser receives. Measured in
    a temporary ``SEQLAB_HOME``: the user's kept measurements are neither used nor touched. Target: the
    second visit < 1 s (issue #18). ``lengths``: the panel's own unless given."""
    import pandas as pd
    import pyarrow as pa

    from ..complexity.quick import all_kept, quick_sweep
    from . import charts

    if lengths is None:
        from .panels import QUICK_LENGTHS as lengths

    def draw() -> tuple[float, bool]:
        t = time.perf_counter()
        kept = all_kept(models, lengths, d)
        rows = pd.DataFrame(quick_sweep(tuple(models), lengths, d))
        for metric in ("ms", "bytes"):
            for df in charts.complexity_chart(rows, list(models), metric).data.values():
                pa.Table.from_pandas(df)
        return time.perf_counter() - t, kept

    with temporary_home():
        try:
            quick_sweep.cache_clear()
            first, kept_first = draw()
            second, kept_second = draw()
            quick_sweep.cache_clear()  # a restarted server: only the disk cache is left
            charts._complexity_spec.cache_clear()
            restart, kept_restart = draw()
        finally:
            quick_sweep.cache_clear()
    return {
        "models": ",".join(models),
        "lengths": list(lengths),
        "first_visit_s": first,
        "second_visit_s": second,
        "after_restart_s": restart,
        "kept": [kept_first, kept_second, kept_restart],
        "target_seconds": 1.0,
    }


def bench_history(runs: int = 1000, records: int = 20, rounds: int = 5) -> dict:
    """The History page with ``runs`` recorded runs (made through the store's writer in a temporary
    ``SEQLAB_HOME``): the store's listing, the page's table built from it, and the whole page script run
    headless (``AppTest``: app.py's navigation, the filters, the table sent), first and median of ``rounds``.
    The target is the page under 1 s."""
    from pathlib import Path
    from types import SimpleNamespace

    from streamlit.testing.v1 import AppTest

    from ..store import RunStore
    from ..train.records import StepRecord
    from .history import history_table

    models = ("rnn", "lstm", "gru")
    with temporary_home(prefix="seqlab-bench-") as home:
        store = RunStore(home)
        for i in range(runs):
            cfg = RunConfig.from_flat({"model": models[i % 3], "task": "parity", "seed": i % 5})
            w = store.writer(f"bench-{i:05d}", source="bench", tag="bench" if i % 2 else None)
            w.on_start(SimpleNamespace(config=cfg, device="cpu"))
            for s in range(1, records + 1):
                w.on_step(StepRecord(s, 1.0 / s, 0.5, [0.1] * 50, 0.01 * s))
            w.close("completed")
        t = time.perf_counter()
        summaries = RunStore(home).list()
        list_s = time.perf_counter() - t
        t = time.perf_counter()
        table = history_table(summaries)
        table_s = time.perf_counter() - t
        app = Path(__file__).resolve().parents[2] / "app.py"
        at = AppTest.from_file(str(app), default_timeout=60)
        at.run()
        page = []
        for _ in range(rounds + 1):
            t = time.perf_counter()
            at.switch_page("pages/history.py").run()
            page.append(time.perf_counter() - t)
        shown = len(at.dataframe[0].value) if at.dataframe else 0
    return {
        "runs": len(table),
        "list_s": list_s,
        "table_s": table_s,
        "page_first_s": page[0],
        "page_s": statistics.median(page[1:]),
        "rows_shown": shown,
    }


def bench_export(points: int = 400, runs: int = 3, rounds: int = 5) -> dict:
    """How long the export control takes: one loss chart as the live view draws it (``runs`` runs of
    ``points`` points, the frames' cap) rendered to PNG, SVG and CSV. The first PNG also starts the
    renderer's JavaScript engine (once per process); the rest are medians of ``rounds``. Wall and CPU
    time both: on a shared machine the wall time is mostly waiting for a core."""
    import numpy as np
    import pandas as pd

    from .. import export
    from .charts import loss_chart

    rng = np.random.default_rng(0)
    steps = np.arange(1, points + 1, dtype=float)
    parts = []
    for r in range(runs):
        loss = 2 / np.sqrt(steps) + 0.1 * rng.random(points)
        parts.append(pd.DataFrame({"run": f"run{r}", "step": steps, "loss": loss, "smoothed": loss}))
    spec = loss_chart(pd.concat(parts, ignore_index=True), [f"run{r}" for r in range(runs)], 0.7).to_dict()

    def timed(make) -> tuple[float, float, int]:
        c0, t0 = time.process_time(), time.perf_counter()
        out = make()
        return (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000, len(out)

    first = timed(lambda: export.to_png(spec))
    row = {"points": points * runs, "png_first_ms": first[0], "png_bytes": first[2]}
    for name, make in (
        ("png", lambda: export.to_png(spec)),
        ("svg", lambda: export.to_svg(spec)),
        ("csv", lambda: export.chart_csv(spec["datasets"])),
    ):
        times = [timed(make) for _ in range(rounds)]
        row[f"{name}_ms"] = statistics.median(t[0] for t in times)
        row[f"{name}_cpu_ms"] = statistics.median(t[1] for t in times)
    return row
