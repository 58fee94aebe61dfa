"""The Language-models page's own widgets: the text upload, the sampling settings, and the samples
written while a model trains."""

from __future__ import annotations

import streamlit as st

from ..errors import SeqlabError
from ..sampling import SampleRecorder, SamplingConfig, sample_text
from ..tasks.chars import MAX_UPLOAD_BYTES, register_text
from .panels import _observers, _polled
from .state import page_runs, registry


def upload_box(page: str) -> None:
    """Your own text: validated and kept by content hash; selecting it sets the corpus to 'text'."""
    with st.expander("Train on your own text (UTF-8, up to 2 MB)"):
        file = st.file_uploader("a plain-text file", key=f"{page}:upload", max_upload_size=2)
        if file is None:
            st.caption("The text stays on this server, in memory; the page's link names it by a hash, not its content.")
            return
        data = file.getvalue()
        if len(data) > MAX_UPLOAD_BYTES:
            st.error(f"task.text: the file is {len(data) / 1e6:.1f} MB; the limit is 2 MB — upload an excerpt")
            return
        try:
            text_id = register_text(data)
        except SeqlabError as e:
            st.error(str(e))
            return
        if st.session_state.get(f"{page}:text_id") != text_id:
            st.session_state[f"{page}:text_id"] = text_id
            st.session_state[f"{page}:corpus"] = "text"
        st.success(f"{file.name}: {len(data):,} bytes, ready (corpus = text, id {text_id}).")


def sampling_settings(page: str) -> tuple[SamplingConfig | None, str | None]:
    """Prompt, temperature, top-k; returns (config, error)."""
    c1, c2, c3 = st.columns([2, 1, 1])
    prompt = c1.text_input("prompt", value="the ", key=f"{page}:prompt", help="the text each sample continues")
    temperature = c2.number_input(
        "temperature τ", value=0.8, min_value=0.0, step=0.1, format="%g", key=f"{page}:temperature",
        help="> 0; small = nearly greedy, 1 = the model's own distribution, large = flatter",
    )  # fmt: skip
    top_k = c3.number_input(
        "top-k (0 = all)", value=0, min_value=0, step=1, key=f"{page}:top_k_sampling",
        help="sample only among the k most likely characters",
    )  # fmt: skip
    try:
        config = SamplingConfig.build(prompt=prompt, length=160, temperature=temperature, top_k=int(top_k) or None)
    except SeqlabError as e:
        st.error(str(e))
        return None, str(e)
    return config, None


def recorder_factory(page: str):
    """Observers for a new run: a SampleRecorder with the page's sampling settings at Train time."""

    def make():
        config = st.session_state.get(f"{page}:sampling") or SamplingConfig(length=160)
        return [SampleRecorder(config)]

    return make


def samples_panel(page: str) -> None:
    """Each run's latest sample (with its step), earlier ones in an expander; redrawn while training."""

    def draw():
        recs = [(label, r) for label, r in _observers(page, SampleRecorder) if r.snapshot()]
        if not recs:
            st.caption(
                "Train a causal model (gpt, or a recurrent one): at every held-out evaluation it writes a sample "
                "continuing the prompt, shown here — gibberish at step 0, words, then sentences."
            )
            return
        for col, (label, rec) in zip(st.columns(len(recs[:3])), recs[:3], strict=False):
            samples = rec.snapshot()
            step, text = samples[-1]
            with col:
                st.markdown(f"**{label}** · step {step:,} · τ = {rec.config.temperature:g}")
                st.code(rec.config.prompt + text, language=None, wrap_lines=True)
                with st.expander("earlier samples"):
                    for s, t in reversed(samples[:-1]):
                        st.caption(f"step {s:,}")
                        st.code(rec.config.prompt + t, language=None, wrap_lines=True)

    _polled(page, draw)


def sample_now(page: str, config: SamplingConfig | None) -> None:
    """Sample from each finished run's model with the settings above (a fraction of a second; a run
    still training shows its samples in the panel instead)."""
    runs = [r for r in registry().visible(page_runs(page)) if r.trainer is not None and not r.alive]
    if not runs or config is None:
        return
    if not st.button("Sample again with these settings", key=f"{page}:sample_now"):
        return
    for run in runs:
        try:
            with st.spinner(f"{run.label} is writing…"):
                text = sample_text(run.trainer.model, run.trainer.task, config)
        except SeqlabError as e:
            st.error(f"{run.label}: {e}")
            continue
        st.markdown(f"**{run.label}** (τ = {config.temperature:g}, top-k {config.top_k or 'all'}, seed {config.seed}):")
        st.code(config.prompt + text, language=None, wrap_lines=True)
