"""The three side-by-side panels every training page shows, and the Train / Stop / Reset bar.

run_bar(page, configs)        → buttons; starts runs in the registry's worker threads
live_panels(page, ...)        → loss | gradient-by-time | complexity, redrawn by a fragment
                                every second while a run is training (polling only reads)
"""

from __future__ import annotations

import hashlib
import json
from contextlib import nullcontext

import streamlit as st

from .. import export
from ..complexity import clock
from ..complexity.quick import all_kept, forget, measured_rows, quick_sweep
from ..errors import SeqlabError
from ..experiments.base import no_observers
from ..models.registry import model_class
from ..presets import LessonWatch, slug, watch_of, watched
from ..store import new_run_id, recorded
from ..train.records import detect_blowup
from . import charts, frames, present
from .jobview import job_error, job_line, until_ended
from .state import (
    keep_job,
    large_fonts,
    link_notes,
    owner,
    page_runs,
    registry,
    session_job,
    set_page_runs,
    shared_job,
)

POLL_SECONDS = frames.LIVE_POLL_SECONDS
QUICK_LENGTHS = (16, 32, 64, 128, 256)
SATURATION_SHOWN = 0.005  # below half a percent of units the saturation chart is a flat line
# a loaded preset's settings fold under its note: open, they and the note put the three panels at 956–1,117 px
# from the top at 1600×1000, and on the Selectivity preset the open settings alone reach 934 px
PRESET_SETTINGS = "The preset's settings — open to see or change them"


def show(fig: charts.Figure, key: str | None = None) -> None:
    """Draw a Figure (spec cached, data fresh) with its export control beneath. ``key`` tells apart two
    charts of one title on a page (the title is the default)."""
    spec = fig.to_dict()
    st.vega_lite_chart(spec=spec)
    export_control(fig, spec, key)


def export_control(fig: charts.Figure, spec: dict, key: str | None = None) -> None:
    """PNG, SVG and CSV downloads of a chart, folded in a small popover. The files are made only when a
    button is pressed (a callable, run off the script thread): a PNG costs ~0.4 s (``seqlab bench
    --export``), far too much to render for every chart on every live redraw."""
    name = key or fig.title or hashlib.sha1(json.dumps(fig.spec, sort_keys=True, default=str).encode()).hexdigest()[:8]
    stem = "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split()) or "chart"
    with st.popover("Export ⤓", key=f"export:{name}"):
        a, b, c = st.columns(3)
        for col, fmt, make, mime in (
            (a, "PNG", lambda: export.to_png(spec), "image/png"),
            (b, "SVG", lambda: export.to_svg(spec), "image/svg+xml"),
            (c, "CSV", lambda: export.chart_csv(fig.data), "text/csv"),
        ):
            col.download_button(
                fmt,
                data=make,
                file_name=f"{stem}.{fmt.lower()}",
                mime=mime,
                key=f"export:{name}:{fmt}",
                on_click="ignore",
            )


def run_bar(page: str, configs, error: str | None, observers=None, preset=None) -> None:
    """Train / Stop / Reset. Errors from the settings are shown here, next to the controls. With a loaded
    ``preset`` whose runs these are, a ``LessonWatch`` times its lesson and stops the runs after it."""
    reg = registry()
    ids = page_runs(page)
    running = any(r.alive for r in reg.visible(ids))
    if error:
        st.error(f"Cannot train with these settings — {error}", icon="⚠️")
    b1, b2, b3, info = st.columns([1, 1, 1, 4])
    if b1.button(
        "Train", type="primary", disabled=bool(error) or not configs or running, key=f"{page}:train", width="stretch"
    ):
        st.session_state.pop(f"{page}:replay", None)
        try:
            from .state import owner

            if preset is not None and preset.lesson and [label for label, _ in configs] == preset.labels():
                watch = LessonWatch(preset.lesson, preset.labels(), preset.margin)
                observers = watched(observers, watch)
            runs = reg.start_group(configs, owner(), observers)
            set_page_runs(page, [r.id for r in runs])
            st.rerun()
        except SeqlabError as e:
            st.error(str(e), icon="⚠️")
    if b2.button("Stop", disabled=not running, key=f"{page}:stop"):
        reg.stop(ids)
    replaying = st.session_state.get(f"{page}:replay") is not None
    if b3.button("Reset", disabled=not ids and not replaying, key=f"{page}:reset"):
        st.session_state.pop(f"{page}:replay", None)
        reg.forget(ids)
        set_page_runs(page, [])
        st.rerun()
    if running:
        info.caption("Training in a background thread: switching pages or reloading keeps the run going.")
    elif not ids:
        info.caption("Press **Train** to start; the panels fill in live.")


def _status_line(snaps) -> None:
    for s in snaps:
        frac = min(1.0, s.steps / max(1, s.total_steps))
        rate = s.steps / s.elapsed if s.elapsed > 0 else 0.0
        last = s.eval[-1].metrics if s.eval else {}
        shown = ", ".join(f"{k.replace('_', ' ')} {v:.3g}" for k, v in last.items())
        text = (
            f"**{s.label}** — {s.status.replace('_', ' ')} · step {s.steps:,}/{s.total_steps:,} · "
            f"{s.elapsed:.1f} s · {rate:.0f} steps/s"
            + (f" · held-out {shown}" if shown else "")
            + (f" · {s.params:,} parameters" if s.params else "")
        )
        if s.error:
            st.error(f"{s.label} failed: {s.error} (its history so far is kept below)")
        st.progress(frac, text=text)
        blowup = blowup_of(s)
        if blowup:
            st.warning(f"**{s.label}**: {blowup}", icon="⚠️")


def blowup_of(s):
    """The run's blow-up flag: from its result when it has ended, from its history so far while it runs
    (the same rule, ``records.detect_blowup``), so a page warns as soon as it happens."""
    if s.result is not None:
        return s.result.blowup
    default_lr = model_class(s.config.model.name).default_lr
    return detect_blowup(s.train, s.baseline_loss or 0.0, s.config.train.lr, default_lr)


def lesson_line(runs) -> None:
    """The preset's lesson for a group of its runs: when it became visible, or what it is still waiting for."""
    watch = watch_of(runs)
    if watch is None:
        return
    hit, lesson = watch.hit, watch.lesson
    if hit is not None:
        steps = ", ".join(f"{label} step {step:,}" for label, step in hit.steps.items())
        st.success(f"**Lesson visible at {hit.seconds:.0f} s** ({steps}): {lesson.sentence}", icon="✅")
    elif any(r.alive for r in runs):
        st.caption(f"Watching for the lesson: {lesson.sentence} ({lesson.text})")
    else:
        st.caption(f"The lesson did not show in these runs ({lesson.text}).")


def live_panels(page: str, models: list[str], y_title: str = "loss") -> None:
    """The page's runs as they train — or, while the page replays a recording, the recorded runs as they
    trained (a replay's clock moves when this fragment polls)."""
    with st.container(key=present.PANELS):  # presentation mode draws this right under the Train bar
        _live_panels(page, models, y_title)


def _live_panels(page: str, models: list[str], y_title: str) -> None:
    ids = page_runs(page)
    replay = active_replay(page)
    if replay is not None:
        st.info(
            f"**Replay** — {replay.label}, at {_speed_text(replay.speed)}; nothing is training.",
            icon="🔁",
        )

    def current():
        return replay.runs if replay is not None else registry().visible(ids)

    def lesson(runs):
        if replay is not None:
            replay_lesson_line(page, replay)
        else:
            lesson_line(runs)

    runs = current()
    if not any(r.alive for r in runs):
        snaps = [r.snapshot() for r in runs]
        lesson(runs)
        _status_line(snaps)
        _panels(page, snaps, models, y_title, poll_complexity=True)
        return

    @st.fragment(run_every=POLL_SECONDS)
    def _live():
        runs = current()
        snaps = [r.snapshot() for r in runs]
        lesson(runs)
        _status_line(snaps)
        _panels(page, snaps, models, y_title, poll_complexity=False)
        if not any(s.running for s in snaps):
            st.rerun()  # all finished: one full rerun turns polling off and re-enables the buttons

    _live()


def draw_panels(page: str, snaps, models: list[str], y_title: str = "loss") -> None:
    """The three panels for runs that are not training (stored runs: the History page's overlays); the
    complexity panel redraws itself while it measures, since nothing else on such a page polls."""
    _status_line(snaps)
    _panels(page, snaps, models, y_title, poll_complexity=True)


def _panels(page: str, snaps, models: list[str], y_title: str, poll_complexity: bool) -> None:
    large = large_fonts()
    labels = [s.label for s in snaps] or list(models)
    c1, c2, c3 = st.columns(3, gap="medium")
    ss = st.session_state
    figs = charts.panel_figures(
        snaps,
        labels,
        ss.get(f"{page}:smoothing", 0.9),
        y_title,
        large,
        ss.get(f"{page}:loss_full", False),
        ss.get(f"{page}:individual", False),
    )
    with c1:
        st.markdown("##### Loss")
        if figs["loss"]:
            show(figs["loss"])
            if figs["metric"]:
                show(figs["metric"])
        else:
            st.info("The training loss, its smoothed curve, held-out points and the blind baseline appear here.")
        st.slider(
            "smoothing",
            0.0,
            0.99,
            0.9,
            0.01,
            key=f"{page}:smoothing",
            help="exponential moving average of the training loss; the raw curve stays faded behind",
        )
        if charts.has_seed_groups(labels):
            st.toggle(
                "show individual runs",
                key=f"{page}:individual",
                help="each seed's own curve, faded behind the mean and its ±1 std band",
            )
        st.toggle(
            "full loss range",
            key=f"{page}:loss_full",
            help="off: the axis ignores the first 10 % of training and the rarest spikes, so the rest is readable",
        )
    with c2:
        st.markdown("##### Gradient by time step")
        for fig in figs["heatmaps"]:
            show(fig)
        if figs["latest"]:
            show(figs["latest"])
            decay_caption(snaps)
        else:
            st.info(
                "‖∂L/∂x_t‖ for every input step t, every logged step: vanishing gradients show as a dark "
                "left edge (early inputs get no learning signal)."
            )
    with c3:
        st.markdown("##### Complexity scaling")
        complexity_panel(list(dict.fromkeys(models)), large, poll=poll_complexity)


def decay_caption(snaps) -> None:
    """Under the gradient profile: each run's fitted decay per step back, the number its heatmap shows as colour."""
    from ..diagnostics.decay import gradient_decay

    parts = []
    for s in snaps:
        rec = next((r for r in reversed(s.train) if r.grad_by_time is not None), None)
        fit = gradient_decay(rec.grad_by_time, frames.GRAD_FLOOR) if rec is not None else None
        if fit is not None:
            parts.append(
                f"**{s.label}** ×{fit.per_step:.2f} per step back "
                f"(first input / last: {fit.first_over_last:.1g}, step {rec.step:,})"
            )
    if parts:
        st.caption(
            "Fitted decay of ‖∂L/∂x_t‖ (a line through its log over t): " + "; ".join(parts) + ". "
            "×1.00 means no decay: the first input gets as much signal as the last."
        )


def complexity_panel(models: list[str], large: bool = False, d: int = 64, poll: bool = True) -> None:
    """Measured time per step and saved activations vs n (a quick sweep, kept for the process and on
    disk, so a later visit draws at once). Points all in the disk cache are read here, in the script,
    without a slot: reading a file trains nothing, and a page should not queue behind four runs for
    it. Otherwise the sweep is a shared background job (``seqlab.jobs``); with ``poll`` the panel redraws
    itself as it progresses. "Measure again" drops the kept points and measures them anew."""
    models = list(models)
    key = ("quick", tuple(models), QUICK_LENGTHS, d)
    name = f"complexity:{','.join(models)}:{d}"
    if all_kept(models, QUICK_LENGTHS, d):
        _complexity_charts(quick_sweep(tuple(models), QUICK_LENGTHS, d), models, large, d)
    else:
        job = shared_job(name, "measure", f"complexity of {', '.join(models)}", _quick_work(models, d), key)
        if not job.ended:
            if poll:
                until_ended(job, lambda: _measuring(job, d))
            else:
                _measuring(job, d)
            return
        if job.status == "stopped" or job_error(job, "The measurement"):
            if st.button("Measure", key=f"complexity-again:{','.join(models)}:{d}"):
                keep_job(name, None)
                registry().forget_shared(key)
                st.rerun()
            return
        _complexity_charts(job.result, models, large, d)
    if st.button("Measure again", key=f"complexity-again:{','.join(models)}:{d}", help="ignore the kept numbers"):
        forget(models, QUICK_LENGTHS, d)
        keep_job(name, None)
        registry().forget_shared(key)
        st.rerun()


def _quick_work(models: list[str], d: int):
    """The panel's measurement, one point at a time: Stop (or a page test's end) takes effect at the next
    length, not after the model's whole sweep (seq2seq's took 6-20 s on a busy machine). The same rows as
    ``quick_sweep``, which reads them back from the disk cache on the next visit."""

    def work(job):
        def before(done: int, total: int, model: str, n: int) -> None:
            job.check()
            job.report(done, total, f"measuring {model} at n = {n} (d={d})")

        return measured_rows(models, QUICK_LENGTHS, d, before=before)

    return work


def _measuring(job, d: int) -> None:
    job_line(job)
    st.caption(f"Time and memory at n = {', '.join(map(str, QUICK_LENGTHS))} (d={d}), measured in the background.")


def _complexity_charts(result: list[dict], models: list[str], large: bool, d: int) -> None:
    import pandas as pd

    rows = pd.DataFrame(result)
    show(charts.complexity_chart(rows, models, "ms", large))
    show(charts.complexity_chart(rows, models, "bytes", large))
    claims = "; ".join(
        f"{m}: time {model_class(m).info.time.text}, training memory {model_class(m).info.train_memory.text}"
        for m in models
    )
    st.caption(f"Batch 8, d={d}, median of 3 steps; {clock.note(result)}. Declared: {claims}.")


def model_cards(models: list[str]) -> None:
    """Each model's equation and a short explanation citing its paper."""
    cols = st.columns(max(1, len(models)))
    for col, m in zip(cols, models, strict=True):
        info = model_class(m).info
        with col, st.container(border=True):
            st.markdown(f"**{info.title}** ({info.year}) — {info.summary}")
            st.latex(info.equation)
            st.caption(f"{info.paper}. Time {info.time.text}; parallel over time: {info.parallel}.")


def experiment(page: str, models, tasks, defaults: dict, presets=(), initial=(), observers=None) -> list[str]:
    """The top of every training page: settings from the link (with notes on what was ignored), the
    classic-demo presets with their "what to notice", the controls (folded under a loaded preset's note),
    Train / Stop / Reset, and the URL kept in sync. Returns the names of the models being trained (for the
    panels and model cards)."""
    from .controls import active_preset, apply_preset, controls, preset_picker, seed_state, sync_url

    notes = seed_state(page, defaults, tuple(models), tuple(tasks), tuple(initial), presets)
    for note in [*notes, *link_notes(page)]:
        st.info(f"From the link: {note}", icon="ℹ️")
    presenting = present.presenting()
    # presentation mode: the settings fold away below the panels, the Train bar stays in sight above them
    with st.expander("Settings and classic demos") if presenting else st.container(border=True):
        if presets:
            p1, p2 = st.columns([3, 1])
            with p1:
                choice = preset_picker(page, presets)
            if p2.button("Load preset", disabled=choice is None, width="stretch", key=f"{page}:load_preset"):
                apply_preset(page, next(p for p in presets if p.name == choice), defaults)
                st.rerun()
        preset = active_preset(page) if presets else None
        fold = preset is not None and not presenting
        # the note, then Train, then the panels, all above the fold; changing the task or the models ends
        # the preset (``active_preset``) and the settings open again where they were
        folded = nullcontext()
        if fold:
            _preset_note(preset)
            folded = st.expander(PRESET_SETTINGS)
            # a recording's Replay sits by Train; how to make one is for the teacher setting up, so it folds too
            # (two lines on the seq2seq page)
            replay_control(page, preset, hint=folded)
        with folded:
            configs, error = controls(page, tuple(models), tuple(tasks))
        if not presenting:
            run_bar(page, configs, error, observers, preset)
    if presenting:
        if preset is not None:  # the lesson's text stays in sight; only the settings fold away
            with st.container(key=present.NOTICE):
                _preset_note(preset)
                replay_control(page, preset)
        with st.container(key=present.RUNBAR):
            run_bar(page, configs, error, observers, preset)
    sync_url(page, configs, page_runs(page))
    # model names, not run labels: a preset may train one model several times (an option sweep)
    return list(dict.fromkeys(cfg.model.name for _, cfg in configs)) or [defaults["model"]]


def _preset_note(preset) -> None:
    until = preset.settings.get("until")
    stop = f" Each run stops once held-out {until.replace('>=', ' ≥ ')} (*stop when*)." if until else ""
    lesson = (
        f" **Lesson:** {preset.lesson.sentence} The runs stop {preset.margin:g} s after it shows."
        if preset.lesson
        else ""
    )
    takes = f" It takes {preset.takes}." if preset.takes else ""
    st.success(f"**What to notice** ({preset.name}): {preset.notice}{stop}{lesson}{takes}")


def cell_diagnostics(page: str) -> None:
    """Exact ‖∂L/∂h_t‖, gate saturation and per-parameter gradient norms for a page's recurrent runs
    (recorded by the HiddenGradProbe / ParamGradNorms observers the page attached)."""
    import pandas as pd

    from ..diagnostics.recurrent import HiddenGradProbe, ParamGradNorms

    runs = registry().visible(page_runs(page))
    probes = [(r.label, o) for r in runs for o in r.observers if isinstance(o, HiddenGradProbe) and o.snapshot()]
    params = [(r.label, o) for r in runs for o in r.observers if isinstance(o, ParamGradNorms) and o.snapshot()]
    if not probes:
        st.caption(
            "Train a recurrent model: every 50 steps an unrolled copy of the cell measures the exact "
            "‖∂L/∂h_t‖ and how saturated its gates are; they appear here."
        )
        return
    large = large_fonts()
    latest = pd.DataFrame(
        [
            {"run": label, "t": t + 1, "norm": max(v, frames.GRAD_FLOOR), "step": p.snapshot()[-1]["step"]}
            for label, p in probes
            for t, v in enumerate(p.snapshot()[-1]["dL_dh"])
        ]
    )
    c1, c2, c3 = st.columns(3, gap="medium")
    with c1:
        show(
            charts.grad_latest_chart(
                latest,
                [label for label, _ in probes],
                large,
                title="Exact ‖∂L/∂h_t‖ in the cell, latest probe",
                y_title="‖∂L/∂h_t‖ (log)",
            )
        )
    with c2:
        for label, p in probes:
            gates = p.snapshot()[-1]["gates"]
            if gates:
                rows = pd.DataFrame(
                    [
                        {"gate": g, "t": t + 1, "saturated": v}
                        for g, s in gates.items()
                        for t, v in enumerate(s["saturated"])
                    ]
                )
                worst = rows.loc[rows["saturated"].idxmax()]
                if worst["saturated"] < SATURATION_SHOWN:  # a flat line at 0 % says nothing a sentence can't
                    st.markdown(f"**Saturated gates — {label}**")
                    st.caption(
                        f"None to speak of: at most {worst['saturated']:.2%} of the units of any gate are saturated "
                        f"(σ < 0.05 or > 0.95) at any step, so every gate still passes gradient."
                    )
                else:
                    show(charts.gate_saturation_chart(rows, label, large))
                    st.caption(
                        f"Most saturated: the {worst['gate']} gate at t = {worst['t']}, "
                        f"{worst['saturated']:.1%} of its units."
                    )
                break
        else:
            st.caption("The Elman RNN has no gates.")
    with c3:
        if params:
            show(charts.param_norms_chart(pd.DataFrame(params[0][1].snapshot()), large))


def sharpest_layer(maps) -> tuple[int, list[float]]:
    """The layer whose heads attend most narrowly — the lowest mean row entropy over heads and queries —
    and every layer's mean entropy (nats). ``maps``: (layers, heads, T, T). Early layers often attend
    almost uniformly, so opening on layer 1 showed nothing."""
    import numpy as np

    ent = -(maps * np.log(np.clip(maps, 1e-12, None))).sum(-1).mean((-1, -2))  # (layers,)
    return int(ent.argmin()), [float(e) for e in ent]


def attention_entropy(recorder) -> None:
    """Entropy of each head's attention over training, from an AttentionRecorder."""
    import numpy as np
    import pandas as pd

    steps, maps = recorder.snapshot()
    rows = []
    for step, m in zip(steps, maps, strict=True):  # m: (layers, heads, T, T)
        ent = -(m * np.log(np.clip(m, 1e-12, None))).sum(-1).mean(-1)  # (layers, heads)
        rows += [
            {"step": step, "head": f"L{li + 1}·H{hi + 1}", "entropy": float(ent[li, hi])}
            for li in range(ent.shape[0])
            for hi in range(ent.shape[1])
        ]
    if rows:
        show(charts.attention_entropy_chart(pd.DataFrame(rows), large_fonts()))


def search_section(page: str) -> None:
    """Architecture search controls, the search running in a background thread, live Pareto charts."""
    from ..search import Search, SearchConfig, trainings_total

    st.markdown(
        "Let the machine choose: an Optuna study proposes architectures (multi-objective TPE), trains each "
        "briefly, keeps the half nearest the front of accuracy, size and speed (the more accurate first) and "
        "trains those twice "
        "as long — *successive halving* (Jamieson & Talwalkar 2016) — within a time budget. Every point below is "
        "one architecture at its longest training, read from the study on disk; the front shows what no other "
        "choice beats on both axes."
    )
    s1, s2, s3 = st.columns([1, 2, 1])
    task = s1.selectbox("search task", ("reverse", "sort", "copy", "recall", "parity"), key=f"{page}:search_task")
    families = s2.multiselect(
        "families",
        ("lstm", "gru", "rnn", "gpt", "bert", "ssm", "moe"),
        default=["lstm", "gru", "gpt", "ssm"],
        key=f"{page}:search_families",
    )
    budget = s3.number_input("budget (seconds)", 5, 600, 45, key=f"{page}:search_budget")
    if st.button("Search", key=f"{page}:search", disabled=not families):
        try:
            space = {"families": families, "hidden": [16, 32, 64], "layers": [1, 2], "heads": [2, 4]}
            config = SearchConfig.build(
                {"task": task, "space": space, "trials": 8, "min_steps": 60, "budget": float(budget)}
            )
            group = f"search-{new_run_id('page', task)}"
            search = Search(
                config, observers=recorded(no_observers, registry().store, group_id=group, tag="search", source="app")
            )
            st.session_state[f"{page}:search_obj"] = search
            keep_job(f"{page}:search", registry().submit("search", f"search on {task}", owner(), _search_work(search)))
        except SeqlabError as e:
            st.error(str(e))
    search = st.session_state.get(f"{page}:search_obj")
    job = session_job(f"{page}:search")
    if search is None or job is None:
        return

    def view():
        out = search.snapshot()
        best = out.best
        if job.status == "queued":
            job_line(job, stop_key=f"{page}:search_stop")
        else:
            text = f"search {job.status}: {len(out.trials)} of at most {trainings_total(search.config)} trainings"
            if best:
                text += f" · best so far {best.label} ({out.metric} {best.metric:.3g})"
            st.progress(job.progress().fraction, text=text)
            st.caption(f"Study `{out.study}`, stored in `{out.storage}`: `seqlab search --study {out.study} --resume`")
            if not job.ended and st.button("Stop", key=f"{page}:search_stop"):
                registry().stop_job(job.id, owner())
        job_error(job, "The search")
        if out.trials:
            a, b = st.columns(2)
            with a:
                show(charts.pareto_chart(out, "params", large_fonts()))
            with b:
                show(charts.pareto_chart(out, "ms_per_step", large_fonts()))

    if job.ended:
        view()
    else:
        until_ended(job, view)


def _search_work(search):
    from ..jobs import Progress
    from ..search import trainings_total

    total = trainings_total(search.config)

    def work(job):
        job.on_stop(search.stop)

        def progress() -> Progress:
            done = len(search.trials)  # read from the study's journal
            return Progress(done, total, f"{done} of {total} trainings")

        job.progress_from(progress)
        return search.run()

    return work


def _polled(page: str, draw) -> None:
    """Draw now, and again every poll while any of the page's runs is training."""
    if not any(r.alive for r in registry().visible(page_runs(page))):
        draw()
        return
    st.fragment(run_every=POLL_SECONDS)(draw)()


def _observers(page: str, kind) -> list[tuple[str, object]]:
    return [(r.label, o) for r in registry().visible(page_runs(page)) for o in r.observers if isinstance(o, kind)]


def accuracy_by_length_panel(page: str) -> None:
    """Held-out accuracy at single input lengths up to twice the trained length, per run, from the
    runs' LengthProbe observers (latest measurement), redrawn while they train."""
    import pandas as pd

    from ..diagnostics.lengths import LengthProbe

    def draw():
        probes = [(label, p) for label, p in _observers(page, LengthProbe) if p.snapshot()]
        if not probes:
            st.caption(
                "Train on a variable-length task: every other evaluation the models are scored on fresh examples "
                "of single lengths, up to twice the longest they train on; the curves appear here."
            )
            return
        rows = pd.DataFrame(
            [
                {"run": label, "step": step, **row}
                for label, p in probes
                for step, rows in p.snapshot()[-1:]
                for row in rows
            ]
        )
        first = probes[0][1]
        labels = [label for label, _ in probes]
        x_title = first.trainer.task.length_label
        c1, c2 = st.columns(2, gap="medium")
        for col, metric in ((c1, "sequence_accuracy"), (c2, "accuracy")):
            with col:
                show(
                    charts.accuracy_by_length_chart(rows, labels, first.trained_length, metric, x_title, large_fonts())
                )
        steps = ", ".join(f"{label} at step {p.snapshot()[-1][0]:,}" for label, p in probes)
        st.caption(f"{len(first.lengths)} lengths × {first.size} held-out examples each; measured {steps}.")

    _polled(page, draw)


def alignment_panel(page: str) -> None:
    """Each encoder–decoder run's alignment α for one fixed held-out example, with a slider over the
    training steps at which it was recorded (AttentionRecorder), so the alignment can be watched forming."""
    from ..diagnostics.attention import AttentionRecorder

    def draw():
        recs = [(label, r) for label, r in _observers(page, AttentionRecorder) if r.snapshot()[0]]
        if not recs:
            st.caption(
                "Train a model with attention (bahdanau, luong or transformer): at every evaluation its alignment "
                "for one fixed held-out example is recorded and appears here, with a slider over training steps."
            )
            return
        steps = sorted({s for _, r in recs for s in r.snapshot()[0]})
        # no key: while maps keep arriving the options change and the slider moves to the newest map
        chosen = st.select_slider("training step", options=steps, value=steps[-1]) if len(steps) > 1 else steps[0]
        cols = st.columns(min(3, len(recs)))
        for col, (label, rec) in zip(cols, recs[:3], strict=False):
            rec_steps, maps = rec.snapshot()
            i = max((k for k, s in enumerate(rec_steps) if s <= chosen), default=0)
            with col:
                show(
                    charts.attention_chart(
                        maps[i][-1].mean(0),  # the last layer, averaged over heads (seq2seq: its one map)
                        f"{label} · step {rec_steps[i]:,}",
                        rec.source_text or None,
                        large_fonts(),
                        outputs=rec.target_text or None,
                        alignment=True,
                    )
                )
        rec = recs[0][1]
        if rec.source_text:
            st.caption(
                f"Probe source: {' '.join(rec.source_text)}  →  target: {' '.join(rec.target_text)}. "
                "Rows are output steps (decoded greedily), columns source positions; hover for tokens."
            )

    _polled(page, draw)


# -- classroom replay -------------------------------------------------------------------------------------
def _speed_text(speed: float | None) -> str:
    return "full speed (every record at once)" if speed is None else f"{speed:g}× the recorded speed"


def replay_control(page: str, preset, hint=None) -> None:
    """ "Replay the recorded run" for a loaded preset that has a recording (``seqlab record``); a fresh install
    has none, and the control then only says how to make one, here or in the container ``hint``."""
    from ..replay import SPEEDS, Replay, latest_recording, recording_tag
    from .history import run_store

    store = run_store()
    try:
        newest = store.list(tag=recording_tag(page, preset.name), limit=1)
    except SeqlabError:
        newest = []  # an unusable store: the page trains as before; the History page says what is wrong
    if not newest:
        (hint or st).caption(
            f"No recording of this preset yet: `python -m seqlab record --page {page} --preset "
            f"{slug(preset.name)}` trains and keeps one, to replay here without training."
        )
        return
    c1, c2 = st.columns([2, 1])
    choice = c1.radio("replay speed", list(SPEEDS), horizontal=True, key=f"{page}:replay_speed")
    if c2.button("Replay the recorded run", key=f"{page}:replay_start", width="stretch"):
        try:
            st.session_state[f"{page}:replay"] = (
                preset.name,
                Replay(latest_recording(store, page, preset.name), SPEEDS[choice]),
            )
        except SeqlabError as e:
            st.error(f"Cannot replay: {e}", icon="⚠️")
            return
        st.rerun()


def active_replay(page: str):
    """The page's replay while its preset is still the one loaded (changing settings ends it)."""
    from .controls import active_preset

    kept = st.session_state.get(f"{page}:replay")
    if kept is None:
        return None
    preset = active_preset(page)
    return kept[1] if preset is not None and preset.name == kept[0] else None


def replay_lesson_line(page: str, replay) -> None:
    from .controls import active_preset

    preset = active_preset(page)
    hit = replay.lesson_seconds(preset) if preset is not None else None
    if hit is not None and replay.position() >= hit:
        st.success(f"**Lesson visible at {hit:.0f} s** in the recording: {preset.lesson.sentence}", icon="✅")
    elif preset is not None and preset.lesson is not None and replay.playing:
        st.caption(f"Watching for the lesson: {preset.lesson.sentence} ({preset.lesson.text})")
    elif preset is not None and preset.lesson is not None:
        st.caption(f"The lesson did not show in this recording ({preset.lesson.text}).")
