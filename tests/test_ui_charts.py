import numpy as np
import pandas as pd
import pytest

from seqlab.config import RunConfig
from seqlab.train.live import RunRegistry
from seqlab.ui import charts, frames


def finished_snapshot(**flat):
    reg = RunRegistry()
    (run,) = reg.start_group(
        [("rnn", RunConfig.from_flat({"model": "rnn", "task": "adding", "seq_len": 12, "hidden": 16, **flat}))],
        owner="t",
    )
    run.join(280)  # a wait, not a speed test: under a loaded CI a few hundred steps can take a minute
    assert not run.alive, "the run did not finish"
    return run.snapshot()


def test_ema_matches_the_debiased_recursive_definition():
    x = np.array([1.0, 3.0, np.nan, 2.0, 8.0])
    a, acc, w, ref = 0.8, 0.0, 0.0, []
    for v in x:
        if np.isfinite(v):
            acc, w = a * acc + (1 - a) * v, a * w + (1 - a)
        ref.append(acc / w)
    got = frames.ema(x, a)
    assert np.allclose(got[[0, 1, 3, 4]], np.array(ref)[[0, 1, 3, 4]])


def test_frames_downsample_but_keep_the_latest_step_and_real_values():
    s = finished_snapshot(steps=400)
    lf = frames.loss_frame([s], 0.5, max_points=100)
    assert len(lf) <= 102 and lf["step"].iloc[-1] == 400
    assert lf["loss"].iloc[-1] == s.train[-1].loss
    g = frames.grad_frame(s, max_rows=30)
    assert g["step"].nunique() <= 31 and g["step"].max() == 400 and set(g["t"]) == set(range(1, 13))
    last = g[g["step"] == 400].sort_values("t")["norm"].to_numpy()
    assert np.allclose(last, s.train[-1].grad_by_time)
    assert np.all(g["log10"] >= np.log10(frames.GRAD_FLOOR))


def test_figures_carry_titles_axis_titles_and_the_named_data():
    s = finished_snapshot(steps=60, eval_every=20)
    fig = charts.loss_chart(frames.loss_frame([s]), ["rnn"], s.baseline_loss, frames.eval_frame([s]), "loss (MSE)")
    spec = fig.to_dict()
    assert fig.title == "Loss" and set(spec["datasets"]) == {"train", "eval", "baseline"}
    text = str(spec)
    assert "training step" in text and "loss (MSE)" in text
    assert spec["datasets"]["baseline"]["y"].iloc[0] == s.baseline_loss
    heat = charts.grad_heatmap(frames.grad_frame(s), "rnn")
    assert "input time step t" in str(heat.spec) and "log10 ‖∂L/∂x_t‖" in str(heat.spec)
    rows = pd.DataFrame(
        [
            {
                "model": "rnn",
                "n": n,
                "d": 8,
                "ms": n / 10,
                "activation_bytes": 100 * n,
                "theory_ms": n / 10,
                "theory_bytes": 100 * n,
                "theory_time": "O(n·d²)",
                "theory_memory": "O(n·d)",
            }
            for n in (16, 32)
        ]
    )
    cx = charts.complexity_chart(rows, ["rnn"], "bytes")
    assert "MiB (log)" in str(cx.spec) and np.isclose(cx.data["rows"]["mib"].iloc[1], 3200 / 2**20)


@pytest.mark.parametrize(
    ("clocks", "title"),
    [
        (["thread-cpu", "thread-cpu"], "CPU ms per step, 1 thread (log)"),
        (["wall", "wall"], "wall ms per step (log)"),
        (["thread-cpu", "wall"], "ms per step: CPU, some wall (log)"),
        (None, "ms per step (log)"),  # rows that carry no clock
    ],
)
def test_the_time_axis_says_which_clock_its_points_were_timed_with(clocks, title):
    rows = pd.DataFrame(
        [
            {"model": "rnn", "n": n, "d": 8, "ms": n / 10, "theory_ms": n / 10, "theory_time": "O(n·d²)"}
            | ({} if clocks is None else {"ms_clock": clock})
            for n, clock in zip((16, 32), clocks or (None, None), strict=True)
        ]
    )
    axis_titles = {
        layer["encoding"]["y"]["title"] for layer in charts.complexity_chart(rows, ["rnn"], "ms").spec["layer"]
    }
    assert axis_titles == {title}


def test_same_run_same_colour_in_every_panel():
    s = finished_snapshot(steps=20, eval_every=10)
    labels = ["lstm", "rnn"]
    specs = [
        charts.loss_chart(frames.loss_frame([s]), labels, 0.1).spec,
        charts.grad_latest_chart(frames.latest_grad_frame([s]), labels).spec,
    ]
    for spec in specs:
        scales = [
            layer["encoding"]["color"]["scale"]
            for layer in spec.get("layer", [spec])
            if "color" in layer.get("encoding", {})
        ]
        assert all(sc["domain"] == labels and sc["range"][:2] == charts.COLORS[:2] for sc in scales)


def test_redraws_reuse_the_cached_spec():
    s = finished_snapshot(steps=20)
    a = charts.loss_chart(frames.loss_frame([s]), ["rnn"], 0.2)
    b = charts.loss_chart(frames.loss_frame([s]), ["rnn"], 0.3)
    assert a.spec is b.spec  # one cached template …
    assert a.to_dict() is not b.to_dict() and "datasets" not in a.spec  # … never mutated by a redraw
    assert b.data["baseline"]["y"].iloc[0] == 0.3


def test_loss_axis_ignores_early_spikes_unless_the_full_range_is_asked_for():
    steps = np.arange(1, 101)
    loss = np.where(steps <= 3, 100.0, 1.0)  # an untrained net's first losses, then a plateau at 1
    train = pd.DataFrame({"run": "rnn", "step": steps, "loss": loss, "smoothed": frames.ema(loss, 0.9)})
    held = pd.DataFrame({"run": "rnn", "step": [1, 50, 100], "loss": [90.0, 1.0, 0.9]})
    fig = charts.loss_chart(train, ["rnn"], 0.7, held)
    top = [p["value"] for p in fig.to_dict()["params"] if p["name"] == "ytop"]
    assert np.allclose(top, [1.05 * 1.0])  # the plateau, not the spike (nor the EMA that still carries it)
    full = charts.loss_chart(train, ["rnn"], 0.7, held, full_range=True)
    assert [p["value"] for p in full.to_dict()["params"] if p["name"] == "ytop"] == [1.05 * 100.0]
    assert full.spec is fig.spec  # one cached template for both ranges
    assert charts.loss_top(train.assign(loss=0.1, smoothed=0.1), held.iloc[1:0], 0.7) == 0.7 * 1.1 * 1.05
