"""Emerging architectures: state-space models, mixture of experts, architecture search."""

import streamlit as st

from seqlab import presets
from seqlab.plugins import page_models
from seqlab.ui.boot import ensure_navigation
from seqlab.ui.emerging import experts_section, kernel_section
from seqlab.ui.panels import experiment, live_panels, model_cards, search_section

ensure_navigation()  # before anything is drawn: a deep link on a fresh server

PAGE = "emerging"
TASKS = ("copy", "recall", "reverse", "sort", "parity", "adding")
MODELS = page_models(("ssm", "selective-ssm", "moe", "lstm", "gpt"), TASKS)  # + plugin models that fit a task here
DEFAULTS = presets.DEFAULTS[PAGE]
PRESETS = presets.PRESETS[PAGE]

st.title("Emerging: state-space models, mixture of experts, architecture search")
st.markdown(
    "**Claim.** A linear recurrence s_k = Ā s_{k−1} + B̄ u_k can be unrolled into one long convolution, so it "
    "trains in parallel like a CNN and generates step by step like an RNN, in time linear in the length "
    "(Gu et al. 2022). Making its parameters depend on the input — *selectivity* (Gu & Dao 2023) — lets it choose "
    "what to remember. A *mixture of experts* (Shazeer et al. 2017; Fedus et al. 2021) grows the parameter "
    "count without growing the compute per token: each token is routed to k of E feed-forward experts."
)
shown = experiment(PAGE, MODELS, TASKS, DEFAULTS, PRESETS, initial=("ssm", "lstm"), observers=presets.observers(PAGE))
live_panels(PAGE, shown)

st.subheader("The kernel")
kernel_section(PAGE)

st.subheader("Experts: who does the work")
experts_section(PAGE)

st.subheader("Architecture search")
search_section(PAGE)

st.subheader("The models")
model_cards(shown)
st.markdown(
    "**What to notice.** In the complexity panel the SSM's time per step grows about linearly with n (the FFT "
    "adds only a log factor), like the recurrent models — but unlike them it is parallel over time. The "
    "selective scan runs on two levels (chunks of L ≈ √n steps, scanned step by step all chunks at once, then "
    "one carry per chunk); the real Mamba fuses that scan into one GPU kernel, which keeps the d × N states out of "
    "memory — here they are written out, so on a CPU it is no faster per step than the LSTM: compare their "
    "measured points at the largest n (add selective-ssm to the comparison to see it)."
)
