"""Settings that cannot leak: loading a preset, switching pages, or following a link never carries
a setting the new model or task lacks. No training here: each test only loads, switches and checks
that the page drew without an exception and that its settings build valid configs."""

import ast
import itertools

import pytest
from pagetest import ROOT, app
from streamlit.testing.v1 import AppTest

from seqlab import presets
from seqlab.config import RunConfig
from seqlab.jobs import Job
from seqlab.models.registry import MODELS
from seqlab.tasks.registry import TASKS
from seqlab.ui.controls import settings_of, slug

TRAINING = ("foundations", "recurrent", "seq2seq", "transformers", "language", "emerging")
PAGES = ("home", *TRAINING, "complexity")
# every option any model or task has: a page's state may hold these only for its current model and task
OPTIONS = {n for c in (*MODELS.values(), *TASKS.values()) for n in c.Options.model_fields}


@pytest.fixture(autouse=True)
def _no_measuring(monkeypatch):
    """Pages start a background complexity measurement for every new set of models; these tests
    draw no charts, and the measuring threads would take the CPU the page runs need."""
    never = Job("measure", "not measured in these tests", "test", lambda job: None)  # admitted by no one
    monkeypatch.setattr("seqlab.ui.panels.shared_job", lambda *a: never)


PRESETS = {p: presets.PRESETS[p] for p in TRAINING if p in presets.PRESETS}


def _listed(page: str, name: str) -> tuple[str, ...]:
    """A page's MODELS or TASKS tuple, read from its source (the built-ins of ``page_models(built_ins, …)``)."""
    tree = ast.parse((ROOT / "pages" / f"{page}.py").read_text())
    value = next(
        n.value for n in tree.body if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == name for t in n.targets)
    )
    if isinstance(value, ast.Call):
        value = value.args[0]
    return ast.literal_eval(value)


def _chosen(at, page: str) -> list[str]:
    ss = at.session_state
    return list(ss[f"{page}:models"]) if ss[f"{page}:compare"] else [ss[f"{page}:model"]]


def assert_settings_fit(at, page: str, trainable: bool = True) -> None:
    """Drawn without exception, no settings error, Train enabled, and no option in the page's state
    that its chosen models and task lack (``trainable=False``: a combination the page refuses)."""
    assert not at.exception, [e.value for e in at.exception]
    if trainable:
        assert not [e.value for e in at.error], [e.value for e in at.error]
    if page not in TRAINING:
        return
    assert at.button(key=f"{page}:train").disabled is not trainable
    models, task = _chosen(at, page), at.session_state[f"{page}:task"]
    own = settings_of(models, task)
    held = {k.split(":", 1)[1] for k in at.session_state if k.startswith(f"{page}:")}
    assert not (held & OPTIONS) - own, f"{sorted((held & OPTIONS) - own)} leaked into {models} on {task}"
    if not trainable:
        return
    query = {k: v for k, v in at.query_params.items() if k not in ("models", "runs", "sweep", "preset", "large")}
    query = {k: v[0] if isinstance(v, list) else v for k, v in query.items()}
    base = RunConfig.from_flat({"model": query["model"], "task": query["task"]})
    cfg, notes = RunConfig.from_query(query, base=base)
    assert notes == [] and cfg.model.name == models[0] and cfg.task.name == task


def load(at, page: str, preset) -> None:
    at.selectbox(key=f"{page}:preset").set_value(preset.name).run()
    at.button(key=f"{page}:load_preset").click().run()
    assert_settings_fit(at, page)
    assert _chosen(at, page) == list(preset.models)
    assert at.session_state[f"{page}:task"] == preset.settings["task"]
    assert any(preset.notice in s.value for s in at.success)
    # a preset about reaching a target stops its runs there (the engine's until)
    assert (at.session_state[f"{page}:until"] or None) == preset.settings.get("until")


@pytest.mark.parametrize(("page", "index"), [(p, i) for p, ps in PRESETS.items() for i in range(len(ps))])
def test_every_preset_loads_from_a_fresh_session(page, index):
    load(app(page=f"pages/{page}.py"), page, PRESETS[page][index])


def _every_ordered_pair(n: int) -> list[int]:
    """A walk through 0..n-1 that takes every ordered pair (a, b), a ≠ b, as a step exactly once
    (an Euler circuit of the complete directed graph, by Hierholzer's algorithm)."""
    left = {a: [b for b in range(n) if b != a] for a in range(n)}
    stack, walk = [0], []
    while stack:
        if left[stack[-1]]:
            stack.append(left[stack[-1]].pop())
        else:
            walk.append(stack.pop())
    return walk[::-1]


@pytest.mark.parametrize("page", [p for p, ps in PRESETS.items() if len(ps) > 1])
def test_every_preset_loads_after_every_other_preset(page):
    at = app(page=f"pages/{page}.py")
    walk = _every_ordered_pair(len(PRESETS[page]))
    assert len(walk) == len(PRESETS[page]) * (len(PRESETS[page]) - 1) + 1
    for i in walk:
        load(at, page, PRESETS[page][i])


@pytest.mark.parametrize("page", TRAINING)
def test_switching_model_or_task_on_a_page_forgets_the_old_ones_options(page):
    at = opened(page)
    at.toggle(key=f"{page}:compare").set_value(False).run()
    for model in _listed(page, "MODELS"):
        at.selectbox(key=f"{page}:model").set_value(model).run()
        assert_settings_fit(at, page, trainable=not at.error)
    for task in [t for t in _listed(page, "TASKS") if t != at.session_state[f"{page}:task"]]:
        at.selectbox(key=f"{page}:task").set_value(task).run()
        assert_settings_fit(at, page, trainable=not at.error)
        assert at.session_state[f"{page}:seq_len"] == TASKS[task].default_seq_len


def opened(page: str) -> AppTest:
    """A fresh session whose first request is ``page`` with a plain URL."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page(f"pages/{page}.py").run()
    assert_settings_fit(at, page)
    return at


@pytest.mark.parametrize(("a", "b"), list(itertools.permutations(PAGES, 2)))
def test_switching_pages_carries_no_setting_over(a, b):
    at = opened(a)
    at.switch_page(f"pages/{b}.py").run()
    assert_settings_fit(at, b)


def _query(at) -> dict:
    return {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}


def test_a_link_naming_one_model_trains_that_model_not_the_pages_comparison():
    at = app({"model": "moe", "task": "recall", "steps": "400"}, page="pages/emerging.py")
    assert at.session_state["emerging:compare"] is False and at.session_state["emerging:model"] == "moe"
    assert at.session_state["emerging:task"] == "recall" and at.session_state["emerging:steps"] == 400
    assert not [i.value for i in at.info if "From the link" in i.value]


def test_a_link_from_another_page_drops_its_model_and_that_models_settings_with_notes():
    at = app({"model": "ssm", "task": "copy", "state_size": "8", "delay": "30"}, page="pages/recurrent.py")
    notes = " ".join(i.value for i in at.info if "From the link" in i.value)
    assert "ignored model='ssm'" in notes and "'state_size'" in notes
    assert at.session_state["recurrent:delay"] == 30  # copy's own setting is kept
    assert_settings_fit(at, "recurrent")


def test_a_loaded_preset_is_in_the_link_and_the_link_shows_its_note():
    preset = PRESETS["emerging"][1]
    at = app(page="pages/emerging.py")
    load(at, "emerging", preset)
    link = _query(at)
    assert link["preset"] == slug(preset.name) == "selectivity-ssm-vs-selective-ssm-on-recall"
    shared = app(link, page="pages/emerging.py")
    assert any(preset.notice in s.value for s in shared.success)
    assert shared.selectbox(key="emerging:preset").value == preset.name
    assert _chosen(shared, "emerging") == list(preset.models)
    shared.selectbox(key="emerging:task").set_value("copy").run()  # another task: the note no longer applies
    assert not any(preset.notice in s.value for s in shared.success) and "preset" not in _query(shared)


def test_the_presentation_switch_is_in_the_link_on_every_page():
    at = app({"large": "1"})  # the old projector switch's spelling still opens it
    assert at.toggle(key="seqlab_large").value is True
    at.switch_page("pages/recurrent.py").run()
    assert _query(at).get("present") == "1" and "large" not in _query(at)
    at.toggle(key="seqlab_large").set_value(False).run()
    assert "present" not in _query(at)
