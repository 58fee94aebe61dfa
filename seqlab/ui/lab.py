"""The Complexity lab's measurement job (in a worker thread, with progress) and its results."""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd
import streamlit as st

from ..complexity import clock
from ..complexity.sweep import SweepResult, crossover, info_of, sweep, table1
from . import charts
from .panels import show
from .state import large_fonts, shared_job

BATCH, REPEATS = 4, 3

# Vaswani et al. (2017), Table 1, as printed (n: sequence length, d: representation dimension)
VASWANI = {
    "Self-Attention": ("O(n²·d)", "O(1)", "O(1)"),
    "Recurrent": ("O(n·d²)", "O(n)", "O(n)"),
    "Convolutional": ("O(k·n·d²)", "O(1)", "O(log_k(n))"),
    "Self-Attention (restricted)": ("O(r·n·d)", "O(1)", "O(n/r)"),
}


def start(name: str, key: tuple):
    """The sweep ``key`` = (tag, models, lengths, d) as a background job, shared by every session that
    asks for the same one (a measurement is a fact about the machine); this session keeps it as
    ``name``. It takes a slot whether or not its points are in the disk cache: a sweep rarely has all
    of them, and one that has ends within a second of starting."""
    _, models, lengths, d = key

    def work(job):
        def report(done, total, label):
            job.check()  # Stop takes effect between points
            job.report(done, total, label)

        return sweep(list(models), list(lengths), d, BATCH, REPEATS, progress=report)

    return shared_job(name, "sweep", f"measuring {', '.join(models)}", work, key)


def results(out: SweepResult, labels: list[str], d: int) -> None:
    rows, fits = pd.DataFrame(out.rows), pd.DataFrame([asdict(f) for f in out.fits])
    large = large_fonts()
    for metrics in (("ms", "flops", "bytes"), ("peak", "path", "depth")):
        for col, metric in zip(st.columns(3), metrics, strict=True):
            with col:
                if metric == "path" and rows["max_path_length"].isna().all():
                    st.caption("No path length: it is measured for models with one output per sequence.")
                    continue
                show(charts.complexity_chart(rows.dropna(subset=[_column(metric)]), labels, metric, large))
    times = clock.note(out.rows)
    st.caption(
        (f"{times[:1].upper()}{times[1:]}. " if times else "")
        + "Peak memory: the most bytes alive at once during forward + backward beyond the model's own weights. "
        "Path length and depth are counted on the graph of one forward pass (tracing, not timing), so they are exact."
    )

    fits["measured"] = [f"{e:.2f} ± {s:.2f}" for e, s in zip(fits["exponent"], fits["stderr"], strict=True)]
    fits["agrees (±0.15)"] = [
        "✓" if abs(e - t) <= 0.15 else "✗" for e, t in zip(fits["exponent"], fits["theory"], strict=True)
    ]
    st.subheader("Exponent of n, measured vs declared")
    st.dataframe(fits[["model", "metric", "measured", "theory", "agrees (±0.15)"]], hide_index=True, width="stretch")

    recurrent = [m for m in labels if info_of(m).parallel == "none"]
    attention = [m for m in labels if "n²" in info_of(m).time.text]
    for a in attention:
        for r in recurrent:
            n_x = crossover(out.rows, r, a, "flops")
            first = min(row["n"] for row in out.rows)
            if n_x is None:
                where = "only beyond the measured lengths"
            elif n_x <= first:
                where = f"at every measured length, already at n = {first} (add shorter lengths to find the crossover)"
            else:
                where = f"from n ≈ **{n_x:,.0f}**"
            st.markdown(f"**Crossover** at d={d}: {a} needs more FLOPs per step than {r} {where}.")

    st.subheader("Vaswani et al. (2017), Table 1 — measured")
    st.dataframe(_table1_display(table1(out.rows, out.fits)), hide_index=True, width="stretch")
    st.caption(
        "As printed in the paper (per layer; n = length, d = width): "
        + "; ".join(f"{k}: {c}, sequential {s}, path {p}" for k, (c, s, p) in VASWANI.items())
        + ". Sequential depth and path length are counted in operations, so their constants depend on how a "
        "cell is written; the exponent of n is the claim."
    )


def _table1_display(table: list[dict]) -> pd.DataFrame:
    """Table 1 in three columns, as the paper prints it: declared form → measured exponent of n."""

    def cell(declared, exponent, value=None, n=None):
        if exponent is None:
            return f"{declared} → not measured"
        tail = f" ({value:,} ops at n = {n})" if value is not None else ""
        return f"{declared} → n^{exponent:.2f}{tail}"

    out = []
    for row in table:
        n = next(int(k.rsplit("=", 1)[1]) for k in row if k.startswith("max path at n="))
        out.append(
            {
                "model": row["model"],
                "layer type": row["layer type"],
                "complexity per layer (FLOPs)": cell(row["complexity (declared)"], row["FLOPs ∝ n^"]),
                "sequential operations": cell(
                    row["sequential ops (declared)"], row["sequential depth ∝ n^"], row[f"sequential depth at n={n}"], n
                ),
                "maximum path length": cell(
                    row["max path (declared)"], row["max path ∝ n^"], row[f"max path at n={n}"], n
                ),
            }
        )
    return pd.DataFrame(out)


def _column(metric: str) -> str:
    return {"ms": "ms", "flops": "flops", "bytes": "activation_bytes", "peak": "peak_bytes"}.get(
        metric, {"path": "max_path_length", "depth": "sequential_depth"}.get(metric, metric)
    )
