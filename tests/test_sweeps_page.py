"""AppTest for the Sweeps page: a grid launched as a job fills the band chart and the heatmap with the
sweep's own numbers; Stop ends the running point as stopped."""

import time

import pytest
from pagetest import app, chart_data, wait_jobs

from seqlab.store import RunStore
from seqlab.ui.state import registry


def _grid(at, models, fields, seeds="0-1", steps=12, workers=1):
    at.multiselect(key="sweeps:models").set_value(models)
    at.selectbox(key="sweeps:task").set_value("parity")
    at.text_input(key="sweeps:fields").set_value(fields)
    at.text_input(key="sweeps:seeds").set_value(seeds)
    at.number_input(key="sweeps:steps").set_value(steps)
    at.number_input(key="sweeps:workers").set_value(workers)
    return at.run()


def test_sweeps_page_draws_seed_bands_and_a_heatmap_from_the_sweeps_points():
    at = app(page="pages/sweeps.py")
    _grid(at, ["rnn", "gru"], "seq_len=4,6 hidden=8")
    at.button(key="sweeps:launch").click().run()
    sweep = at.session_state["sweeps:sweep"]
    wait_jobs("sweep")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    points = sweep.snapshot()
    assert len(points) == 8 and {p.status for p in points} == {"completed"}
    band = chart_data(at, "Final held-out accuracy vs seq_len")
    assert set(band["series"]) == {"rnn", "gru"} and sorted(set(band["x"])) == [4.0, 6.0]
    rnn4 = [
        p.metrics["accuracy"] for p in points if p.point.settings["model"] == "rnn" and p.point.flat["seq_len"] == 4
    ]
    row = band[(band["series"] == "rnn") & (band["x"] == 4.0)].iloc[0]
    assert row["mean"] == pytest.approx(sum(rnn4) / 2) and row["hi"] - row["lo"] == pytest.approx(2 * row["std"])
    heat = chart_data(at, "Mean final accuracy over seq_len × model")
    assert len(heat) == 4 and set(heat["n"]) == {2}  # one cell per (seq_len, model), over its 2 seeds


def test_preset_fills_the_classic_grid():
    at = app(page="pages/sweeps.py")
    at.button(key="sweeps:preset").click().run()
    assert at.multiselect(key="sweeps:models").value == ["rnn", "lstm", "gru"]
    assert at.text_input(key="sweeps:fields").value == "seq_len=10,25,50,100,200"
    assert at.selectbox(key="sweeps:task").value == "adding"


def test_a_bad_grid_is_shown_next_to_the_controls():
    at = app(page="pages/sweeps.py")
    _grid(at, ["rnn"], "hiden=8")
    at.button(key="sweeps:launch").click().run()
    assert not at.exception
    assert any("hiden: not a setting seqlab knows; did you mean 'hidden'" in e.value for e in at.error)


def test_stop_on_the_page_ends_the_running_point_as_stopped():
    at = app(page="pages/sweeps.py")
    _grid(at, ["rnn"], "seq_len=4", seeds="0-2", steps=100_000)
    at.button(key="sweeps:launch").click().run()
    sweep = at.session_state["sweeps:sweep"]
    job = registry().job(at.session_state["job:sweeps:sweep"])
    store, deadline = RunStore(), time.monotonic() + 60
    while not [r for r in store.list(status="running") if r["steps"]] and time.monotonic() < deadline:
        time.sleep(0.1)  # Stop while the first point trains (its records reach the store once a second)
    at.button(key="sweeps:stop").click().run()
    assert job.wait(60)
    at.run()
    points = sweep.snapshot()
    assert job.status == "stopped" and [p.status for p in points] == ["stopped"]  # no later seed started
    assert 0 < points[0].result["steps"] < 100_000
