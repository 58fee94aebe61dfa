"""Language models: a character-level GPT learning a generated language, sampled as it trains."""

import streamlit as st

from seqlab import presets
from seqlab.plugins import page_models
from seqlab.ui.boot import ensure_navigation
from seqlab.ui.lm import claims, recorder_factory, sample_now, samples_panel, sampling_settings, upload_box
from seqlab.ui.panels import experiment, live_panels, model_cards

ensure_navigation()  # before anything is drawn: a deep link on a fresh server

PAGE = "language"
TASKS = ("chars",)
MODELS = page_models(
    ("gpt", "lstm", "gru", "rnn", "ssm", "selective-ssm", "moe"), TASKS
)  # + plugin models that fit a task here
DEFAULTS = presets.DEFAULTS[PAGE]
PRESETS = presets.PRESETS[PAGE]

st.title("Language models: predict the next character")
st.markdown(
    "**Claim.** A model trained only to predict the next symbol of a text learns its spelling, its words and "
    "its grammar (Shannon 1951; Radford et al. 2018, 2019): that is all a GPT is. Here a small GPT (or an "
    "LSTM, for comparison) reads a corpus this app generates — English-like sentences from a probabilistic "
    "grammar, or nested brackets — or your own text, and writes samples as it learns."
)
upload_box(PAGE)
shown = experiment(PAGE, MODELS, TASKS, DEFAULTS, PRESETS, observers=recorder_factory(PAGE))
live_panels(PAGE, shown)

st.subheader("What the model writes, as training goes")
# beside the samples they shape, not above the panels (at 1600×1000 they pushed the panels below the fold)
st.markdown("**Sampling** (used by runs you start next, and by *Sample again*)")
config, _ = sampling_settings(PAGE)
samples_panel(PAGE)
sample_now(PAGE, config)

st.subheader("The models")
model_cards(shown)
st.markdown(
    "**What to notice.** The loss panel's dashed line is the unigram entropy — the best a model can do "
    "without reading the context; everything below it is learned structure. On a generated corpus each "
    "sample is judged against the rules that made it: sentences the grammar can generate (and how many if "
    "agreement is ignored), or closing brackets that close the right one. For the GPT the gradient panel stays "
    "flat: every character of the window gets about the same gradient (a fitted decay of ×1.00 per step back "
    "in a fresh run of the grammar preset). Temperature trades accuracy for variety: near 0 the sample repeats "
    "the most likely sentence, at 1.5 it invents words. BERT is not offered: it reads both sides, so it cannot "
    "write left to right."
)

st.header("Three claims of the language-model papers, measured")
st.caption(
    "Each runs in the background on the same training engine (about half a minute to a minute here); the result "
    "stays for everyone using this server until it restarts."
)
claims(PAGE)
