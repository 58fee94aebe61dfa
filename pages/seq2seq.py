"""Seq2seq & attention: the fixed context vector's bottleneck, and attention as its cure."""

import streamlit as st

from seqlab.diagnostics.attention import AttentionRecorder
from seqlab.diagnostics.lengths import LengthProbe
from seqlab.plugins import page_models
from seqlab.ui.boot import ensure_navigation
from seqlab.ui.controls import Preset
from seqlab.ui.panels import accuracy_by_length_panel, alignment_panel, experiment, live_panels, model_cards

ensure_navigation()  # before anything is drawn: a deep link on a fresh server

PAGE = "seq2seq"
TASKS = ("seq-reverse", "seq-sort", "numbers")
MODELS = page_models(("seq2seq", "bahdanau", "luong", "transformer"), TASKS)  # + plugin models that fit a task here
DEFAULTS = {"model": "bahdanau", "task": "seq-reverse", "seq_len": 30, "steps": 1000}
PRESETS = [
    Preset(
        "The bottleneck: seq2seq vs Bahdanau on reverse, length 30",
        ("seq2seq", "bahdanau"),
        {"task": "seq-reverse", "seq_len": 30, "steps": 1000},
        "Bahdanau pulls away within about a minute (measured in this app on the 2-core machine: at 60 s it "
        "reversed 54 % of held-out sources exactly against seq2seq's 23 %, at 90 s 86 % against 24 %). The "
        "by-length chart shows where seq2seq's share comes from: only the short sources; it falls to 0 beyond "
        "about ten symbols, while Bahdanau holds up far longer. Its alignment map turns into the anti-diagonal: "
        "output i reads source position n + 1 − i.",
    ),
    Preset(
        "Luong scores: dot vs general vs concat",
        ("luong",),
        {"task": "seq-reverse", "seq_len": 15, "steps": 600},
        "All three learn the anti-diagonal. The simplest score, dot — no attention parameters at all — keeps up "
        "with the parameterised ones (in our seed-0 run it led early: 47 % sequence accuracy at step 120 against "
        "34 % for general and 20 % for concat; all reached 86–91 % by step 600). Concat, Bahdanau's additive "
        "form, costs the most per step: it keeps a d-vector for every (output, source) pair.",
        sweep=("score", ("dot", "general", "concat")),
    ),
]

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
    observers=lambda: [AttentionRecorder(), LengthProbe()],
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
    "symbol it must squeeze into c, while the attention models stay flat up to the trained length (beyond it, "
    "right of the dashed line, both must extrapolate). In the alignment map the diagonal — or for reverse the "
    "anti-diagonal — forms as the loss drops: the model has learned *where* to read. In the gradient panel the "
    "attention models' early inputs stay bright: every source position is one attention step from every output. "
    "In the complexity panel, attention's extra cost is the n·m score matrix."
)
