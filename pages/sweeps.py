"""Sweeps: a grid of settings × seeds on a process pool, with seed bands and a heatmap."""

import streamlit as st

from seqlab.ui.boot import ensure_navigation
from seqlab.ui.sweeps import sweep_section

ensure_navigation()  # before anything is drawn: a deep link on a fresh server

PAGE = "sweeps"

st.title("Sweeps: many runs, one question")
st.markdown(
    "**Claim.** One run is an anecdote. A result about sequence models — *gated cells remember across long "
    "gaps where a plain RNN cannot* — is a curve over the length T, with the spread over random seeds beside "
    "it. A sweep trains every combination of the settings you choose, for every seed, on a pool of worker "
    "processes (one per core), and records each point in the run store; the same sweep launched again skips "
    "the points it already finished."
)
sweep_section(PAGE)
st.markdown(
    "**What to notice.** With the preset, the RNN's final MSE climbs to the blind baseline (≈ 0.167: always "
    "guessing the mean sum) as T grows, while the LSTM and GRU stay below it to longer T — the gap Hochreiter "
    "& Schmidhuber (1997) built the LSTM to close. The band is the spread over seeds: where bands overlap, "
    "the difference is not yet a result."
)
