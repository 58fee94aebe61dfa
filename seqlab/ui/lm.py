"""The Language-models page's own widgets: the text upload, the sampling settings, and the samples
written while a model trains."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from ..errors import SeqlabError
from ..sampling import SampleRecorder, SamplingConfig, sample_text
from ..schema import field_spec
from ..store import new_run_id, recorded
from ..tasks.chars import register_text
from . import charts
from .controls import field_widget
from .jobview import job_error, job_line, until_ended
from .panels import _observers, _polled, show
from .state import keep_job, large_fonts, owner, page_runs, registry, session_job


def upload_box(page: str) -> None:
    """Your own text: validated and kept by content hash; selecting it sets the corpus to 'text'."""
    with st.expander("Train on your own text (UTF-8, up to 2 MB)"):
        file = st.file_uploader("a plain-text file", key=f"{page}:upload", max_upload_size=2)
        if file is None:
            st.caption("The text stays on this server, in memory; the page's link names it by a hash, not its content.")
            return
        data = file.getvalue()
        try:
            text_id = register_text(data)
        except SeqlabError as e:
            st.error(str(e))
            return
        if st.session_state.get(f"{page}:text_id") != text_id:
            st.session_state[f"{page}:text_id"] = text_id
            st.session_state[f"{page}:corpus"] = "text"
        st.success(f"{file.name}: {len(data):,} bytes, ready (corpus = text, id {text_id}).")


# the sampling widgets' defaults; also what a run samples with before the widgets were first drawn
SAMPLING_DEFAULTS = {"prompt": "the ", "temperature": 0.8, "top_k": 0}


def _sampling(prompt: str, temperature: float, top_k: int) -> SamplingConfig:
    return SamplingConfig.build(prompt=prompt, length=160, temperature=temperature, top_k=int(top_k) or None)


def sampling_settings(page: str) -> tuple[SamplingConfig | None, str | None]:
    """Prompt, temperature, top-k; returns (config, error)."""
    c1, c2, c3 = st.columns([2, 1, 1])
    prompt = c1.text_input(
        "prompt", value=SAMPLING_DEFAULTS["prompt"], key=f"{page}:prompt", help="the text each sample continues"
    )
    temperature = c2.number_input(
        "temperature τ", value=SAMPLING_DEFAULTS["temperature"], min_value=0.0, step=0.1, format="%g",
        key=f"{page}:temperature", help="> 0; small = nearly greedy, 1 = the model's own distribution, large = flatter",
    )  # fmt: skip
    top_k = c3.number_input(
        "top-k (0 = all)", value=SAMPLING_DEFAULTS["top_k"], min_value=0, step=1, key=f"{page}:top_k_sampling",
        help="sample only among the k most likely characters",
    )  # fmt: skip
    try:
        config = _sampling(prompt, temperature, top_k)
    except SeqlabError as e:
        st.error(str(e))
        return None, str(e)
    return config, None


def recorder_factory(page: str):
    """Observers for a new run: a SampleRecorder with the page's sampling settings at Train time, read from
    the widgets' state (the page draws them under the panels, after Train has started the runs)."""

    def make():
        ss = st.session_state
        try:
            config = _sampling(
                ss.get(f"{page}:prompt", SAMPLING_DEFAULTS["prompt"]),
                ss.get(f"{page}:temperature", SAMPLING_DEFAULTS["temperature"]),
                ss.get(f"{page}:top_k_sampling", SAMPLING_DEFAULTS["top_k"]),
            )
        except SeqlabError:  # refused beside the widgets; the run samples with the defaults meanwhile
            config = SamplingConfig(length=160)
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
                st.markdown(f"**{label}** · step {step:,} · τ = {rec.config.temperature:g}{_judged(rec, text)}")
                st.code(rec.config.prompt + text, language=None, wrap_lines=True)
                if rec.note:
                    st.caption(rec.note)
                with st.expander("earlier samples"):
                    for s, t in reversed(samples[:-1]):
                        st.caption(f"step {s:,}{_judged(rec, t)}")
                        st.code(rec.config.prompt + t, language=None, wrap_lines=True)

    _polled(page, draw)


def _judged(rec: SampleRecorder, text: str) -> str:
    """ " · 2 / 3 sentences grammatical (…)" when the corpus has rules to check a sample against."""
    verdict = rec.assess(text)
    return f" · {verdict['summary']}" if verdict else ""


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


# -- the papers' claims, as experiments run in the background ------------------------------------------------
@dataclass(frozen=True)
class Claim:
    name: str  # the CLI command
    title: str
    claim: str
    config: type
    run: object
    charts: tuple  # functions result -> Figure
    summary: object  # result -> markdown
    knobs: tuple[str, ...] = ("seed",)  # the settings the page offers (the CLI takes them all)


def _pretrain_summary(r) -> str:
    ft = r.finetune
    pre, scratch = ft.runs["pre-trained"], ft.runs["from scratch"]
    return (
        f"With the same **{ft.labelled_examples:,} labelled examples**, the pre-trained model reaches "
        f"**{pre.final_accuracy:.0%}** held-out accuracy, the same model from scratch "
        f"**{scratch.final_accuracy:.0%}** "
        f"(chance {ft.chance:.0%}). Pre-training saw only unlabelled text ({r.pretrain.steps:,} steps of "
        "masked-token prediction)."
    )


def _scaling_summary(r) -> str:
    f, pts = r.fit, r.points
    first, last = pts[0], pts[-1]
    return (
        f"Held-out loss falls from **{first.loss:.2f}** to **{last.loss:.2f}** as the non-embedding "
        f"parameters grow from {first.non_embedding_params:,} to {last.non_embedding_params:,}; "
        f"the fitted exponent is **α = {f.alpha:.3f} ± {f.alpha_stderr:.3f}** (standard error). "
        f"Honestly: every size trains for the same {r.tokens:,} tokens of a generated corpus, not to "
        "convergence on web text — the exponent describes this toy, not Kaplan et al.'s α ≈ 0.076, and the "
        "largest model here is tiny by their standard."
    )


def _fewshot_summary(r) -> str:
    rows = r.rows
    return (
        f"Accuracy on mappings the model never saw in training rises from **{rows[0].accuracy:.0%}** with "
        f"k = {rows[0].k} example to **{rows[-1].accuracy:.0%}** with k = {rows[-1].k} (chance "
        f"{r.chance:.0%}); it was trained on prompts of up to {r.train_max} examples. No weight changes "
        "between k: the examples in the prompt are the only thing that differs."
    )


def _claims() -> list[Claim]:
    from ..experiments.fewshot import FewShotConfig, run_fewshot
    from ..experiments.pretrain import PretrainConfig, run_pretrain
    from ..experiments.scaling import ScalingConfig, run_scaling

    return [
        Claim(
            "pretrain",
            "Pre-train, then fine-tune (BERT)",
            "Devlin et al. (2018): masked-token pre-training on unlabelled text makes a model learn a labelled "
            "task from far fewer labels. A BERT-like encoder pre-trains on a generated corpus of several "
            "'languages', then learns to tell them apart from a few labelled sequences — against the same model "
            "trained from scratch on the same labels.",
            PretrainConfig,
            run_pretrain,
            (lambda r, large: charts.finetune_chart(r, "accuracy", large),),
            _pretrain_summary,
            ("seed", "pretrain_steps", "finetune_steps", "hidden"),
        ),
        Claim(
            "scaling",
            "Scaling: loss vs parameters (GPT-2/3, Kaplan et al.)",
            "Kaplan et al. (2020): language-model loss falls as a power law in the number of parameters, "
            "L(N) ≈ a·N^(−α). Five GPT sizes train on the same tokens; the fit is a straight line on log–log axes.",
            ScalingConfig,
            run_scaling,
            (lambda r, large: charts.scaling_chart(r, True, large),),
            _scaling_summary,
            ("seed", "widths", "steps", "irreducible"),
        ),
        Claim(
            "fewshot",
            "Few-shot, in context (GPT-3)",
            "Brown et al. (2020): a large enough language model learns a new task from examples in its prompt, "
            "without any weight update. A GPT trained on key→value prompts (a fresh mapping in every prompt) "
            "is scored on new mappings against the number of examples k it is shown.",
            FewShotConfig,
            run_fewshot,
            (lambda r, large: charts.fewshot_chart(r, large),),
            _fewshot_summary,
            ("seed", "steps", "train_max", "eval_max"),
        ),
    ]


def _settings(page: str, claim: Claim) -> dict:
    """A few of the experiment's settings as widgets (defaults: about a minute of training). Values a
    session put under ``<page>:<name>:settings`` seed the widgets (the tests use small ones)."""
    ss = st.session_state
    given = ss.get(f"{page}:{claim.name}:settings", {})
    fresh = given != ss.get(f"{page}:{claim.name}:applied")  # new settings from the session: show them
    ss[f"{page}:{claim.name}:applied"] = dict(given)
    values = dict(given)
    with st.expander("Settings (seed, budget, sizes)"):
        for col, name in zip(st.columns(len(claim.knobs)), claim.knobs, strict=True):
            spec, key = field_spec(name, claim.config.model_fields[name]), f"{page}:{claim.name}:{name}"
            if key not in ss or (fresh and name in given):
                default = given.get(name, spec.default)
                ss[key] = ",".join(map(str, default)) if spec.kind == "int_list" else default
            with col:  # the state value is the widget's default too (controls._seeded says why)
                values[name] = field_widget(spec, key, default=ss[key], field=f"{claim.name}.{name}")
    return values


def claim_section(page: str, claim: Claim) -> None:
    """A claim, a Run button (default settings; the CLI command takes every setting), live progress with
    Stop, then the chart and the measured numbers. The experiment is this session's background job
    (``seqlab.jobs``), kept per settings: it waits in the server's queue when every slot is busy."""
    st.markdown(f"**Claim.** {claim.claim}")
    try:
        config = claim.config.build(_settings(page, claim))
    except SeqlabError as e:
        st.error(str(e))
        return
    name = f"{page}:{claim.name}:{config.model_dump_json()}"
    c1, c2 = st.columns([1, 3])
    if c1.button(f"Run ({config.total_steps():,} training steps)", key=f"{page}:{claim.name}:run"):
        known = session_job(name)
        if known is None or known.status in ("stopped", "failed"):
            keep_job(name, registry().submit("experiment", claim.name, owner(), _claim_work(claim, config)))
    c2.caption(f"Same as `python -m seqlab {claim.name}`; its flags change every setting.")
    job = session_job(name)
    if job is None:
        return
    if not job.ended:
        until_ended(job, lambda: job_line(job, stop_key=f"{page}:{claim.name}:stop"))
        return
    if job_error(job, claim.name):
        return
    if job.result is None:  # stopped while it waited for a slot
        st.warning("Stopped before it started: press Run to queue it again.")
        return
    result = job.result
    large = large_fonts()
    for col, chart in zip(st.columns(len(claim.charts)), claim.charts, strict=True):
        with col:
            show(chart(result, large))
    if job.status == "stopped":
        st.warning("Stopped early: the numbers below cover what finished.")
    st.markdown(claim.summary(result))


def _claim_work(claim: Claim, config):
    from ..experiments.base import LiveProgress
    from ..jobs import Progress

    def work(job):
        live = LiveProgress(config.total_steps())
        job.on_stop(live.stop)

        def progress():
            snap = live.snapshot()
            return Progress(snap["steps"], snap["total_steps"], snap["phase"] or "starting")

        job.progress_from(progress)
        group = f"{claim.name}-{new_run_id('page', 'experiment')}"
        return claim.run(
            config, recorded(live.observers, registry().store, group_id=group, tag=claim.name, source="app")
        )

    return work


def claims(page: str) -> None:
    for claim in _claims():
        st.subheader(claim.title)
        claim_section(page, claim)
