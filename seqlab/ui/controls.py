"""Run-settings widgets shared by the pages, validated through the same RunConfig as the CLI.

Widget values live in ``st.session_state`` under ``<page>:<setting>``; they are seeded once per
session from the URL query string (so a copied link reproduces the experiment, seed included),
and written back to the URL after every change. Bad or unknown query values fall back to the
defaults with a visible note.

Every seeded widget is created by ``_seeded``: its state value is checked (else replaced by a
fallback) and then passed as the widget's *default* too. A widget created from Session State alone is
sent to the browser with its parameter default (``min_value``, the first option, ``False``, ``""``)
plus an instruction to set the state value, and the browser paints the default first: a shared
link's seed 5 read ``0`` in the frame where the input appeared (a test reading the value as soon as
the element attached saw it; a click in that frame would send it back). With default and state
equal, nothing else can be shown or sent. Streamlit logs a warning for this pairing;
``global.disableWidgetStateDuplicationWarning`` in .streamlit/config.toml turns it off.
"""

from __future__ import annotations

import streamlit as st

from ..bands import seed_label
from ..config import RunConfig, TrainConfig
from ..errors import SeqlabError
from ..models.registry import MODELS, incompatibility, model_class
from ..presets import Preset, settings_of, slug  # noqa: F401 - the pages' and tests' names for them
from ..schema import FieldSpec, field_spec
from ..tasks.registry import TASKS, make_task, task_class
from .present import presenting


def _k(page: str, name: str) -> str:
    return f"{page}:{name}"


# query keys that are not RunConfig settings: run ids, compare list, option sweep, preset, presentation
# mode (``large`` is its old spelling), seed band
LINK_ONLY = ("runs", "models", "sweep", "preset", "present", "large", "seeds")
MAX_SEEDS = 8  # the registry's slot cap (SEQLAB_MAX_RUNS, default 4) usually binds first


def seed_state(
    page: str,
    defaults: dict,
    models: tuple[str, ...],
    tasks: tuple[str, ...] = (),
    initial: tuple[str, ...] = (),
    presets=(),
) -> list[str]:
    """First visit of this page in this session: fill widget state from the URL, else defaults.
    ``initial`` models start the page in compare mode unless the link names a model. Returns the
    notes about query values that were ignored. A model or task the page does not offer is dropped
    before anything else is read, so the link's other settings are judged against this page's
    model and task (a setting neither has is dropped with a note, never carried along)."""
    if st.session_state.get(_k(page, "seeded")):
        return st.session_state.get(_k(page, "notes"), [])
    query = st.query_params.to_dict()
    params = {k: v for k, v in query.items() if k not in LINK_ONLY}
    notes: list[str] = []
    if params.get("model") and params["model"] not in models:
        notes.append(f"ignored model={params.pop('model')!r}: this page trains {', '.join(models)}")
    if tasks and params.get("task") and params["task"] not in tasks:
        notes.append(f"ignored task={params.pop('task')!r}: this page's tasks are {', '.join(tasks)}")
    if ":" in query.get("sweep", ""):
        name, values = query["sweep"].split(":", 1)
        st.session_state[_k(page, "sweep")] = (name, tuple(v for v in values.split(",") if v))
    chosen = [m for m in query.get("models", "").split(",") if m]
    bad = [m for m in chosen if m not in models]
    if bad:
        notes.append(f"ignored models {', '.join(bad)}: this page trains {', '.join(models)}")
    chosen = [m for m in chosen if m in models]
    if "seeds" in query:
        n = query["seeds"]
        if n.isdigit() and 1 <= int(n) <= MAX_SEEDS:
            st.session_state[_k(page, "seeds")] = int(n)
        else:
            notes.append(f"ignored seeds={n!r}: repeat over 1 to {MAX_SEEDS} seeds")
    if chosen:  # the first model compared is the one whose settings the link carries
        params["model"] = chosen[0]
    base = RunConfig.from_flat(defaults)
    cfg, more = RunConfig.from_query(params, base=base) if params else (base, [])
    notes += more
    named = [cfg.model.name] if "model" in params else []  # a link naming one model trains that model
    load_flat(page, cfg.to_flat(), chosen or named or list(initial) or [cfg.model.name])
    if query.get("preset"):
        preset = next((p for p in presets if slug(p.name) == query["preset"]), None)
        if preset is None:
            notes.append(f"ignored preset={query['preset']!r}: not a preset of this page")
        else:
            st.session_state[_k(page, "preset_loaded")] = preset
    st.session_state[_k(page, "seeded")] = True
    st.session_state[_k(page, "notes")] = notes
    return notes


def load_flat(page: str, flat: dict, models: list[str]) -> None:
    """Put settings into the widgets' state (used by seeding and by presets)."""
    for key, value in flat.items():
        st.session_state[_k(page, key)] = value
    st.session_state[_k(page, "models")] = list(models)
    st.session_state[_k(page, "model")] = models[0]
    st.session_state[_k(page, "compare")] = len(models) > 1


def _seeded(widget, label: str, key: str, fallback, valid, default_kw: str, as_default=lambda v: v, **kw):
    """``widget(label, key=key)`` whose default is its state value (``fallback`` when that is not ``valid``)."""
    if not valid(st.session_state.get(key)):
        st.session_state[key] = fallback
    return widget(label, key=key, **{default_kw: as_default(st.session_state[key])}, **kw)


def _select(label: str, choices, key: str, fallback, **kw):
    choices = tuple(choices)
    return _seeded(
        st.selectbox, label, key, fallback, lambda v: v in choices, "index", choices.index, options=choices, **kw
    )


def _number(label: str, key: str, fallback, kind: type = int, **kw):
    valid = (
        (lambda v: isinstance(v, int) and not isinstance(v, bool))
        if kind is int
        else (lambda v: isinstance(v, int | float) and not isinstance(v, bool))
    )
    return _seeded(st.number_input, label, key, kind(fallback), valid, "value", kind, **kw)


def _toggle(label: str, key: str, fallback: bool, **kw) -> bool:
    return _seeded(st.toggle, label, key, fallback, lambda v: isinstance(v, bool), "value", **kw)


def _text(label: str, key: str, fallback: str = "", **kw) -> str:
    return _seeded(st.text_input, label, key, fallback, lambda v: isinstance(v, str), "value", **kw)


def _multiselect(label: str, choices, key: str, fallback: list, **kw) -> list:
    choices = tuple(choices)
    valid = lambda v: isinstance(v, list) and all(c in choices for c in v)  # noqa: E731
    return _seeded(st.multiselect, label, key, list(fallback), valid, "default", options=choices, **kw)


def field_widget(
    spec: FieldSpec, key: str, label: str | None = None, help_text: str | None = None, default=None, field=None
):
    """The widget for one config field (``seqlab.schema``: the CLI's flags read the same spec); a list of
    integers is a comma-separated text box and comes back as the list (a bad one is refused naming
    ``field``). ``default`` overrides the field's own (a value the session seeded)."""
    label = label or spec.label
    help_text = help_text or spec.help
    fallback = spec.default if default is None else default
    if spec.kind == "choice":
        return _select(label, spec.choices, key, fallback, help=help_text)
    if spec.kind == "int":
        return _number(label, key, fallback, min_value=spec.lo, max_value=spec.hi, step=1, help=help_text)
    if spec.kind == "float":
        lo = float(spec.lo) if spec.lo is not None else None
        return _number(label, key, fallback, float, min_value=lo, help=help_text, format="%g")
    if spec.kind == "int_list":
        shown = ",".join(map(str, fallback)) if isinstance(fallback, list | tuple) else str(fallback)
        return spec.parse_list(_text(label, key, shown, help="comma-separated"), field)
    return None


def _field_widget(page: str, name: str, info, label: str | None = None, help_text: str | None = None):
    return field_widget(field_spec(name, info), _k(page, name), label, help_text)


def controls(
    page: str, models: tuple[str, ...], tasks: tuple[str, ...], allow_compare: bool = True
) -> tuple[list[tuple[str, RunConfig]], str | None]:
    """Draw the settings; return ([(label, RunConfig)], error message or None)."""
    ss = st.session_state
    switched = {"on_change": _drop_foreign, "args": (page,)}
    compare = (
        _toggle("Compare models (same task and seed)", _k(page, "compare"), False, **switched)
        if allow_compare
        else False
    )
    c1, c2 = st.columns(2)
    with c1:
        if compare:
            chosen = _multiselect(
                "models",
                models,
                _k(page, "models"),
                models[:1],
                format_func=lambda m: f"{m} — {MODELS[m].info.title}",
                **switched,
            )
        else:
            chosen = [
                _select(
                    "model",
                    models,
                    _k(page, "model"),
                    models[0],
                    format_func=lambda m: f"{m} — {MODELS[m].info.title} ({MODELS[m].info.year})",
                    **switched,
                )
            ]
    with c2:
        task_name = _select(
            "task",
            tasks,
            _k(page, "task"),
            tasks[0],
            format_func=lambda t: TASKS[t].title,
            help="; ".join(f"{t}: {TASKS[t].description}" for t in tasks),
            on_change=_task_switched,
            args=(page,),
        )
    tcls = task_class(task_name)
    # four columns, not three: the seeds box on a row of its own pushed the panels below a 1000-px fold
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        _number(tcls.seq_len_meaning, _k(page, "seq_len"), tcls.default_seq_len, min_value=1, max_value=100_000, step=1)
        _field_widget(
            page, "hidden", RunConfig.model_fields["model"].annotation.model_fields["hidden"], label="hidden size d"
        )
    with c2:
        for name, info in tcls.Options.model_fields.items():
            _field_widget(page, name, info)
    with c3:
        _field_widget(
            page, "steps", TrainConfig.model_fields["steps"], label="steps", help_text="maximum optimizer steps"
        )
        _field_widget(page, "seed", TrainConfig.model_fields["seed"], label="random seed")
    with c4:
        _number(
            "repeat over seeds",
            _k(page, "seeds"),
            1,
            min_value=1,
            max_value=MAX_SEEDS,
            step=1,
            help="train each model N times, with seeds seed, seed+1, …; the charts draw the mean ± 1 std",
        )
    primary = chosen[0] if chosen else models[0]
    with st.expander("More settings: init, learning rate, optimiser, clipping, stop target"):
        e1, e2, e3 = st.columns(3)
        with e1:
            inits = ("auto", *model_class(primary).inits)
            _select(
                "init",
                inits,
                _k(page, "init"),
                "auto",
                help="'auto' = each model's recommended scheme (e.g. forget-gate bias 1 for LSTM)",
            )
            lr_key = _k(page, "lr_text")
            if lr_key not in ss:
                ss[lr_key] = (
                    ""
                    if ss.get(_k(page, "lr")) in (None, model_class(primary).default_lr)
                    else str(ss.get(_k(page, "lr")))
                )
            _text("learning rate", lr_key, placeholder="model default", help="empty = each model's recommended rate")
            _field_widget(page, "layers", RunConfig.model_fields["model"].annotation.model_fields["layers"])
        with e2:
            for name in ("optimizer", "batch_size", "clip"):
                _field_widget(page, name, TrainConfig.model_fields[name])
        with e3:
            _text("stop when", _k(page, "until"), placeholder="e.g. accuracy=0.99 or mse=0.01")
            for name in ("eval_every",):
                _field_widget(page, name, TrainConfig.model_fields[name], label="evaluate every (steps)")
            fields: dict = {}  # option name -> (field info, models that have it); families share options
            for mname in dict.fromkeys(chosen):
                for name, info in model_class(mname).Options.model_fields.items():
                    fields.setdefault(name, (info, []))[1].append(mname)
            for name, (info, users) in fields.items():
                _field_widget(page, name, info, label=f"{name.replace('_', ' ')} ({', '.join(users)})")
    if not chosen:
        return [], "models: choose at least one model to train"
    sweep = ss.get(_k(page, "sweep"))
    if sweep and len(chosen) == 1 and sweep[0] in model_class(chosen[0]).Options.model_fields:
        _toggle(
            f"Train {chosen[0]} once per {sweep[0].replace('_', ' ')}: {', '.join(sweep[1])}",
            _k(page, "sweep_on"),
            True,
            help="from the preset; off = train once with the setting above",
        )
    return build_configs(page, chosen, task_name)


def _chosen_models(page: str) -> list[str]:
    ss = st.session_state
    return list(ss.get(_k(page, "models"), [])) if ss.get(_k(page, "compare")) else [ss.get(_k(page, "model"))]


def _drop_foreign(page: str) -> None:
    """After a model or task change: forget options the chosen models and task lack, so the next
    model or task starts from its own defaults (as the CLI and links do), never from another's."""
    ss = st.session_state
    task = ss.get(_k(page, "task"))
    if task not in TASKS:
        return
    own = settings_of([m for m in _chosen_models(page) if m in MODELS], task)
    options = {n for c in (*MODELS.values(), *TASKS.values()) for n in c.Options.model_fields}
    for name in options - own:
        ss.pop(_k(page, name), None)


def _task_switched(page: str) -> None:
    """A length means something else for another task (symbols to copy, pairs to recall): start at its default."""
    st.session_state.pop(_k(page, "seq_len"), None)
    _drop_foreign(page)


def active_sweep(page: str, chosen: list[str]) -> tuple[str, tuple[str, ...]] | None:
    """The preset's option sweep, if it applies to the (single) chosen model and is switched on."""
    sweep = st.session_state.get(_k(page, "sweep"))
    if not sweep or len(chosen) != 1 or sweep[0] not in model_class(chosen[0]).Options.model_fields:
        return None
    return sweep if st.session_state.get(_k(page, "sweep_on"), True) else None


def build_configs(page: str, chosen: list[str], task_name: str) -> tuple[list[tuple[str, RunConfig]], str | None]:
    ss = st.session_state
    tcls = task_class(task_name)
    flat = {"task": task_name, "seq_len": ss.get(_k(page, "seq_len"))}
    for name in (
        *tcls.Options.model_fields,
        "hidden",
        "layers",
        "steps",
        "seed",
        "optimizer",
        "batch_size",
        "clip",
        "eval_every",
    ):
        if _k(page, name) in ss:
            flat[name] = ss[_k(page, name)]
    until = (ss.get(_k(page, "until")) or "").strip()
    if until:
        flat["until"] = until
    lr_text = (ss.get(_k(page, "lr_text")) or "").strip()
    if lr_text:
        flat["lr"] = lr_text
    out = []
    try:
        task = make_task(task_name, flat["seq_len"], {k: flat[k] for k in tcls.Options.model_fields if k in flat})
        for m in chosen:
            cls = model_class(m)
            why = incompatibility(cls, task)
            if why:
                return [], f"model.name: {why}"
            mflat = {**flat, "model": m, **{k: ss[_k(page, k)] for k in cls.Options.model_fields if _k(page, k) in ss}}
            init = ss.get(_k(page, "init"), "auto")
            mflat["init"] = init if init in cls.inits else "auto"
            sweep = active_sweep(page, chosen)
            if sweep:
                name, values = sweep
                out += [(f"{m}·{v}", RunConfig.from_flat({**mflat, name: v})) for v in values]
            else:
                out.append((m, RunConfig.from_flat(mflat)))
    except SeqlabError as e:
        return [], str(e)
    return repeat_over_seeds(out, ss.get(_k(page, "seeds"), 1))


def repeat_over_seeds(configs: list[tuple[str, RunConfig]], n: int) -> tuple[list[tuple[str, RunConfig]], str | None]:
    """Each run ``n`` times with seeds seed, seed+1, …, labelled ``<label> · seed <s>`` so the charts
    band them; refused before training when the server could not train them all at once."""
    if n <= 1:
        return configs, None
    from .state import registry

    try:  # through from_flat, so a seed past the largest allowed is refused like a typed one
        out = [
            (seed_label(label, cfg.train.seed + i), RunConfig.from_flat({**cfg.to_flat(), "seed": cfg.train.seed + i}))
            for label, cfg in configs
            for i in range(n)
        ]
    except SeqlabError as e:
        return [], f"seeds: {e}"
    cap = registry().max_running
    if len(out) > cap:
        return [], (
            f"seeds: {len(configs)} run(s) × {n} seeds = {len(out)} runs, but this server trains at most {cap} at "
            "once (SEQLAB_MAX_RUNS); choose fewer seeds or models"
        )
    return out, None


def sync_url(page: str, configs: list[tuple[str, RunConfig]], run_ids: list[str]) -> None:
    """Write the current experiment into the query string so the link reproduces it."""
    if not configs:
        return
    q = configs[0][1].to_query()
    names = list(dict.fromkeys(cfg.model.name for _, cfg in configs))
    if len(names) > 1:
        q["models"] = ",".join(names)
    sweep = active_sweep(page, names)
    if sweep:
        q.pop(sweep[0], None)
        q["sweep"] = f"{sweep[0]}:{','.join(sweep[1])}"
    seeds = st.session_state.get(_k(page, "seeds"), 1)
    if isinstance(seeds, int) and seeds > 1:
        q["seeds"] = str(seeds)
    if run_ids:
        q["runs"] = ",".join(run_ids)
    preset = active_preset(page)
    if preset is not None:
        q["preset"] = slug(preset.name)  # the link shows the preset's note too
    if presenting():
        q["present"] = "1"
    if q != st.query_params.to_dict():
        st.query_params.from_dict(q)


# what a preset leaves alone: the page's runs, that it was seeded, the picker and its button
KEPT = ("runs", "seeded", "preset", "load_preset")


def preset_picker(page: str, presets) -> str | None:
    """The presets' select box; it shows the preset a link named (seeded like every other widget)."""
    names = tuple(p.name for p in presets)
    key = _k(page, "preset")
    if key not in st.session_state and st.session_state.get(_k(page, "preset_loaded")) is not None:
        st.session_state[key] = st.session_state[_k(page, "preset_loaded")].name
    if st.session_state.get(key) not in names:  # nothing chosen: default and state are both None
        st.session_state.pop(key, None)
        return st.selectbox("Classic demos", names, index=None, placeholder="choose a preset…", key=key)
    return _select("Classic demos", names, key, names[0], placeholder="choose a preset…")


def apply_preset(page: str, preset: Preset, defaults: dict) -> None:
    """Replace the page's settings by the preset's. The page's defaults fill in only what the preset's
    models and task have: a default of another task (the Emerging page's copy delay) must not reach a
    preset on recall."""
    task = preset.settings.get("task", defaults["task"])
    merged = {**defaults, **preset.settings, "task": task}
    state: dict = {}
    for m in reversed(preset.models):  # each model validated with its own options; the first one's win
        own = settings_of((m,), task)
        state.update(RunConfig.from_flat({**{k: v for k, v in merged.items() if k in own}, "model": m}).to_flat())
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith(f"{page}:") and key.split(":", 1)[1] not in KEPT:
            del st.session_state[key]
    load_flat(page, {**state, "lr": preset.settings.get("lr")}, list(preset.models))
    if preset.sweep:
        st.session_state[_k(page, "sweep")] = preset.sweep
    st.session_state[_k(page, "seeded")] = True
    st.session_state[_k(page, "preset_loaded")] = preset


def active_preset(page: str) -> Preset | None:
    """The loaded preset while the page still trains its models on its task (its note applies)."""
    ss = st.session_state
    preset = ss.get(_k(page, "preset_loaded"))
    if preset is None:
        return None
    chosen = _chosen_models(page)
    same_task = ss.get(_k(page, "task")) == preset.settings.get("task", ss.get(_k(page, "task")))
    return preset if same_task and list(chosen) == list(preset.models) else None
