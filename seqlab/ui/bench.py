"""What watching a run costs: the page's redraw timed against a training run (``seqlab bench``). It
lives in the UI package because it drives the UI's own chart builders; the library's benches are in
``seqlab.bench``."""

from __future__ import annotations

import statistics
import time

from ..config import RunConfig


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
