"""Seq2seq & attention: the fixed context vector's bottleneck, and attention as its cure."""

import streamlit as st

from seqlab import presets
from seqlab.plugins import page_models
from seqlab.ui.boot import ensure_navigation
from seqlab.ui.panels import accuracy_by_length_panel, alignment_panel, experiment, live_panels, model_cards

ensure_navigation()  # before anything is drawn: a deep link on a fresh server

PAGE = "seq2seq"
TASKS = ("seq-reverse", "seq-sort", "numbers")
MODELS = page_models(("seq2seq", "bahdanau", "luong", "transformer"), TASKS)  # + plugin models that fit a task here
DEFAULTS = presets.DEFAULTS[PAGE]
PRESETS = presets.PRESETS[PAGE]

st.title("Seq2seq & attention: the bottleneck made visible")
st.markdown(
    "**Claim.** An encoder–decoder reads the source into one vector and writes the target from it "
    "(Sutskever, Vinyals & Le 2014; Cho et al. 2014) — so everything the decoder will ever know about the source "
    "must fit in d numbers, and accuracy falls as sources grow. Attention (Bahdanau, Cho & Bengio 2015; Luong, "
    "Pham & Manning 2015) gives every output step its own weighted look at *all* encoder states: the bottleneck "
    "is gone, at the price of n·m alignment scores."
)
shown = experiment(
    PAGE,
    MODELS,
    TASKS,
    DEFAULTS,
    PRESETS,
    initial=("seq2seq", "bahdanau"),
    observers=presets.observers(PAGE),
)
live_panels(PAGE, shown)

st.subheader("Accuracy by input length")
accuracy_by_length_panel(PAGE)

st.subheader("Alignment of one held-out example, as training goes")
alignment_panel(PAGE)

st.subheader("The models")
model_cards(shown)
st.markdown(
    "**What to notice.** In the by-length chart the fixed-context model's accuracy drops with every extra "
    "symbol it must squeeze into c, while attention's falls far more gently up to the trained length (default "
    "runs at step 1,000, symbols right at length 6 / 12 / 30: seq2seq 95 / 59 / 27 %, Bahdanau 99 / 97 / 85 %; "
    "right of the dashed line both must extrapolate). In the alignment map the diagonal — or for reverse the "
    "anti-diagonal — forms as the loss drops: the model has learned *where* to read. In the gradient panel no "
    "model's early inputs go dark here: in a default run the fitted decay (the caption) was above ×1.0 per "
    "step back for seq2seq and Bahdanau alike — the bottleneck shows in accuracy, not in the gradient. "
    "In the complexity panel, attention's extra cost is the n·m score matrix (measured here at n = 256: "
    "Bahdanau 514 ms per step and 287 MB of saved activations, seq2seq 125 ms and 12 MB)."
)
