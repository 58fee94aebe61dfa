"""Home: the lineage of sequence models, its equations and its complexity claims."""

from pathlib import Path

import pandas as pd
import streamlit as st

from seqlab.lineage import COMPLEXITY, EQUATIONS, MILESTONES
from seqlab.ui import charts
from seqlab.ui.boot import ensure_navigation
from seqlab.ui.panels import show
from seqlab.ui.state import large_fonts

ensure_navigation()  # before anything is drawn: a deep link on a fresh server

PAGES = {p.stem for p in Path(__file__).parent.glob("*.py")}

st.title("seqlab — watch sequence models learn")
st.markdown(
    "Forty years of neural sequence modelling, each step trained live on your own machine. Every page shows "
    "the same three panels side by side: the **loss**, the **gradient reaching each input step** "
    "‖∂L/∂x_t‖, and the **cost** as the sequence grows — measured, next to what theory claims."
)

df = pd.DataFrame([m.__dict__ for m in MILESTONES])
df["page"] = [p if p in PAGES else "(coming)" for p in df["page"]]
df["href"] = [p if p in PAGES else "" for p in df["page"]]
show(charts.timeline_chart(df, large_fonts()))

st.subheader("What to try first")
st.markdown(
    "Open **Recurrent: RNN, LSTM, GRU**, pick the preset *Vanishing gradients: RNN vs LSTM on adding, T=100* "
    "and press **Train**. Within half a minute the LSTM's loss falls off the dashed baseline while the RNN's "
    "stays on it — and the middle panel shows why: the RNN's gradient fades to nothing before it reaches the "
    "early inputs. Then try *Memory: copy with delay 20*, and change the seed to see how robust it is."
)
cols = st.columns(3)
for col, (path, label) in zip(
    cols,
    [
        ("pages/foundations.py", "MLP & backprop"),
        ("pages/recurrent.py", "RNN, LSTM, GRU"),
        ("pages/recurrent.py", "Start with the vanishing gradient"),
    ],
    strict=True,
):
    col.page_link(path, label=label)

st.subheader("The key equations")
for name, eq, note in EQUATIONS:
    c1, c2 = st.columns([1, 3])
    c1.markdown(f"**{name}**  \n{note}")
    c2.latex(eq)

st.subheader("The complexity claims, and where they are measured")
table = pd.DataFrame(
    [
        {
            "model": m,
            "time": t,
            "space": s,
            "parallelisation": p,
            "measured on": f"/{page}" if page in PAGES else "(coming)",
        }
        for m, t, s, p, page in COMPLEXITY
    ]
)
st.dataframe(
    table, hide_index=True, width="stretch", column_config={"measured on": st.column_config.LinkColumn("measured on")}
)
st.caption(
    "From the project's seed reference. The complexity panels measure time per step and the activations "
    "kept for backward; note that *training* a recurrent network stores O(n·d) activations, not O(d)."
)
