"""Presentation mode (``?present=1``), chart titles that wrap instead of being cut, the fitted
gradient decay under the gradient profile, and refusals that name the page's own controls."""

import numpy as np
import pandas as pd
import pytest
from pagetest import app, specs, titles, train

from seqlab.diagnostics.decay import gradient_decay
from seqlab.errors import ConfigError
from seqlab.tasks.registry import make_task
from seqlab.ui import charts
from seqlab.ui.panels import PRESET_SETTINGS


def test_gradient_decay_recovers_the_rate_of_a_geometric_profile_and_skips_underflow():
    T = 40
    norms = 3.0 * 0.7 ** (T - np.arange(1, T + 1))  # ‖∂L/∂x_t‖ = C·r^(T−t), r = 0.7
    norms[:5] = 0.0  # float32 underflow: no measured value
    fit = gradient_decay(norms)
    assert fit.per_step == pytest.approx(0.7, rel=1e-9)
    assert fit.fitted == T - 5
    assert fit.first_over_last == pytest.approx(1e-12 / 3.0)  # the floored first input, measured as shown
    assert gradient_decay([1.0, 0.0, 0.0, 1.0]) is None  # two measured points fit no rate


def test_a_flat_profile_decays_by_a_factor_of_one():
    assert gradient_decay(np.full(20, 0.3)).per_step == pytest.approx(1.0)


@pytest.mark.parametrize("large", [False, True])
def test_long_chart_titles_wrap_into_lines_and_keep_every_word(large):
    label = "bahdanau·concat-with-a-long-name"
    grads = pd.DataFrame({"run": [label], "step": [1], "t": [1], "norm": [1.0], "log10": [0.0]})
    fig = charts.grad_heatmap(grads, label, large)
    title = fig.spec["title"]
    chars, sub_chars = charts.TITLE_CHARS[large]
    assert " ".join(title["text"]) == f"Gradient reaching each input — {label}" == fig.title
    assert len(title["text"]) >= 2 and all(len(line) <= chars for line in title["text"][:-1])
    assert title["text"][-1].endswith(label)  # the model's name whole, on a line of its own if need be
    assert all(len(line) <= sub_chars for line in title["subtitle"])
    assert "limit" not in title  # nothing tells Vega to cut it
    assert charts.wrap("a bb ccc", 4) == ["a bb", "ccc"]


def test_presentation_link_folds_the_settings_below_and_scales_the_charts():
    at = app({"present": "1", "model": "rnn", "task": "parity", "seq_len": "4", "steps": "20"}, "pages/recurrent.py")
    assert at.toggle(key="seqlab_large").value is True
    assert _query(at)["present"] == "1"
    assert [e.label for e in at.expander][:1] == ["Settings and classic demos"]
    assert at.number_input(key="recurrent:steps").value == 20  # the link's settings, inside the expander
    train(at, "recurrent")
    loss = next(s for s in specs(at) if titles([s]) == ["Loss"])
    assert loss["config"]["title"]["fontSize"] == pytest.approx(15 * 1.45)
    assert loss["config"]["title"]["subtitleFontSize"] == pytest.approx(11 * 1.45)
    assert loss["config"]["axis"]["labelFontSize"] == pytest.approx(12 * 1.45)


def test_without_the_link_the_settings_stay_open_above_the_panels():
    at = app({"model": "rnn", "task": "parity", "seq_len": "4", "steps": "20"}, "pages/recurrent.py")
    assert at.toggle(key="seqlab_large").value is False
    assert "Settings and classic demos" not in [e.label for e in at.expander]
    at.toggle(key="seqlab_large").set_value(True).run()  # the switch writes the link
    assert _query(at)["present"] == "1"


def test_the_gradient_panel_states_each_runs_fitted_decay_from_its_records():
    at = app(
        {"models": "rnn,lstm", "task": "adding", "seq_len": "12", "steps": "30", "hidden": "16"}, "pages/recurrent.py"
    )
    runs = train(at, "recurrent")
    caption = next(c.value for c in at.caption if c.value.startswith("Fitted decay of ‖∂L/∂x_t‖"))
    for run in runs:
        snap = run.snapshot()
        last = next(r for r in reversed(snap.train) if r.grad_by_time is not None)
        fit = gradient_decay(last.grad_by_time)
        assert f"**{snap.label}** ×{fit.per_step:.2f} per step back" in caption
        assert 0.0 < fit.per_step < 1.5


def test_a_recall_too_long_for_its_keys_names_the_pages_controls_not_cli_flags():
    with pytest.raises(ConfigError) as e:
        make_task("recall", 20, {"key_vocab": 8})
    assert "raise key vocab or lower number of key–value pairs N" in str(e.value)
    assert "--" not in str(e.value)


def _query(at) -> dict:
    return {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}


def test_in_presentation_mode_a_presets_note_stays_out_of_the_folded_settings():
    link = {"models": "rnn,lstm", "task": "copy", "seq_len": "3", "delay": "20"}
    at = app({**link, "preset": "memory-copy-with-delay-20", "present": "1"}, "pages/recurrent.py")
    (settings,) = [e for e in at.expander if e.label == "Settings and classic demos"]
    notes = [s.value for s in at.success if s.value.startswith("**What to notice** (Memory: copy with delay 20)")]
    assert len(notes) == 1
    assert not [s for s in settings.success if s.value.startswith("**What to notice**")]
    assert settings.selectbox(key="recurrent:preset").value == "Memory: copy with delay 20"


def test_a_loaded_preset_folds_its_settings_under_its_note_until_its_task_changes():
    link = {"models": "rnn,lstm", "task": "copy", "seq_len": "3", "delay": "20"}
    at = app({**link, "preset": "memory-copy-with-delay-20"}, "pages/recurrent.py")
    (settings,) = [e for e in at.expander if e.label == PRESET_SETTINGS]
    notes = [s.value for s in at.success if s.value.startswith("**What to notice** (Memory: copy with delay 20)")]
    assert len(notes) == 1 and not [s for s in settings.success if s.value.startswith("**What to notice**")]
    assert settings.number_input(key="recurrent:delay").value == 20  # the link's settings, folded
    assert [b.key for b in settings.button if b.key == "recurrent:train"] == []  # Train stays in sight
    assert at.button(key="recurrent:train").disabled is False
    settings.number_input(key="recurrent:steps").set_value(1234).run()  # a change inside keeps the preset
    assert [e.label for e in at.expander].count(PRESET_SETTINGS) == 1
    at.selectbox(key="recurrent:task").set_value("adding").run()  # not the preset's runs any more
    assert PRESET_SETTINGS not in [e.label for e in at.expander]
    assert not [s for s in at.success if s.value.startswith("**What to notice**")]
    assert at.number_input(key="recurrent:steps").value == 1234  # what was set folded stays, unfolded
