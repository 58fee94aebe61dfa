"""Complexity lab: measure the seed's complexity table instead of asserting it."""

import pandas as pd
import streamlit as st

from seqlab.complexity.sweep import crossover, sweep
from seqlab.errors import SeqlabError
from seqlab.models.registry import MODELS, model_class
from seqlab.ui import charts
from seqlab.ui.boot import ensure_navigation
from seqlab.ui.panels import show
from seqlab.ui.state import background, large_fonts

ensure_navigation()  # before anything is drawn: a deep link on a fresh server

PAGE = "complexity"
LENGTHS = (32, 64, 128, 256, 512, 1024)

st.title("Complexity lab: measured, next to the claims")
st.markdown(
    "**Claim** (the seed's table): RNN and LSTM cost O(n·d²) time and O(d) space and cannot be parallelised "
    "over time; attention costs O(n²·d) time and O(n²) space, fully parallel. Here every model trains one "
    "step at each length n and we measure time, FLOPs and the activations kept for backward, then fit the "
    "exponent of n on log–log axes."
)
c1, c2, c3 = st.columns([2, 2, 1])
models = c1.multiselect("models", list(MODELS), default=["lstm", "gpt", "ssm"], key=f"{PAGE}:models")
lengths = c2.multiselect("sequence lengths n", LENGTHS, default=[64, 128, 256, 512], key=f"{PAGE}:lengths")
d = c3.number_input("hidden size d", 8, 512, 64, step=8, key=f"{PAGE}:d")
key = ("sweep", tuple(models), tuple(sorted(lengths)), int(d))
if st.button("Measure", type="primary", disabled=len(models) < 1 or len(lengths) < 2, key=f"{PAGE}:measure"):
    try:
        from seqlab.complexity.sweep import parse_lengths

        parse_lengths(",".join(map(str, sorted(lengths))))
        st.session_state[f"{PAGE}:job"] = key
        background(key, sweep, list(models), sorted(lengths), int(d), 4, 3)
    except SeqlabError as e:
        st.error(str(e))
if len(lengths) < 2:
    st.caption("Choose at least two lengths to fit a slope.")

job_key = st.session_state.get(f"{PAGE}:job")


@st.fragment(run_every=1.0)
def _wait(k):
    job = background(k, sweep, list(k[1]), list(k[2]), k[3], 4, 3)
    if job.done():
        st.rerun()
    st.info("Measuring in a background thread (batch 4, one thread, median of 3 steps per point)…")


if job_key:
    job = background(job_key, sweep, list(job_key[1]), list(job_key[2]), job_key[3], 4, 3)
    if not job.done():
        _wait(job_key)
    elif job.exception() is not None:
        st.error(f"The measurement failed: {job.exception()}")
    else:
        out = job.result()
        rows, fits = pd.DataFrame(out["rows"]), pd.DataFrame(out["fits"])
        labels = list(job_key[1])
        large = large_fonts()
        p1, p2, p3 = st.columns(3)
        with p1:
            show(charts.complexity_chart(rows, labels, "ms", large))
        with p2:
            show(charts.complexity_chart(rows, labels, "flops", large))
        with p3:
            show(charts.complexity_chart(rows, labels, "bytes", large))
        fits["measured"] = [f"{e:.2f} ± {s:.2f}" for e, s in zip(fits["exponent"], fits["stderr"], strict=True)]
        fits["agrees (±0.15)"] = [
            "✓" if abs(e - t) <= 0.15 else "✗" for e, t in zip(fits["exponent"], fits["theory"], strict=True)
        ]
        st.subheader("Exponent of n, measured vs declared")
        st.dataframe(
            fits[["model", "metric", "measured", "theory", "agrees (±0.15)"]], hide_index=True, width="stretch"
        )
        recurrent = [m for m in labels if model_class(m).info.parallel == "none"]
        attention = [m for m in labels if "n²" in model_class(m).info.time.text]
        for a in attention:
            for r in recurrent:
                n_x = crossover(out["rows"], r, a, "flops")
                st.markdown(
                    f"**Crossover** at d={job_key[3]}: {a} needs more FLOPs per step than {r} from n ≈ "
                    + (f"**{n_x:,.0f}**" if n_x else "beyond the measured lengths")
                    + "."
                )
        st.markdown(
            "**Why measurement and the table differ.** (1) *Training* a recurrent network keeps every hidden state "
            "for backpropagation through time: its activation memory grows as O(n·d), the O(d) of the table is "
            "inference. (2) Fused attention recomputes the n × n scores in backward instead of storing them, so "
            "its saved activations grow as O(n·d), not O(n²) — the quadratic cost moved into time. (3) At small n "
            "the O(n·d²) projections dominate a Transformer's FLOPs, so its fitted exponent sits between 1 and 2 "
            "and approaches 2 only once n ≫ d. (4) Wall time at small n is dominated by fixed per-step overhead, "
            "so its slopes read low; FLOPs are the clean measurement."
        )
else:
    st.caption("Choose models and lengths, then press **Measure**.")
