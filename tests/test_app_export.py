"""AppTest: "repeat over N seeds" trains a group drawn as a mean with a ±1 std band, and every chart has
its export control."""

import numpy as np
from pagetest import app, chart_data, specs, titles, train

from seqlab.ui import frames


def test_seeds_train_as_one_group_drawn_as_a_mean_over_a_std_band_with_export_buttons():
    at = app(
        {"model": "rnn", "task": "parity", "seq_len": "6", "steps": "40", "eval_every": "20", "seeds": "3"},
        page="pages/recurrent.py",
    )
    assert at.number_input(key="recurrent:seeds").value == 3
    runs = train(at, "recurrent")
    assert [r.label for r in runs] == ["rnn · seed 0", "rnn · seed 1", "rnn · seed 2"]
    assert [r.config.train.seed for r in runs] == [0, 1, 2] and len({r.group for r in runs}) == 1
    snaps = [r.snapshot() for r in runs]

    loss_spec = next(s for s in specs(at) if titles([s]) == ["Loss"])
    assert {"area", "line"} <= {layer["mark"]["type"] for layer in loss_spec["layer"]}
    band = chart_data(at, "Loss", "band")
    smoothed = np.array([frames.ema(np.array([t.loss for t in s.train]), 0.9) for s in snaps])  # (seeds, steps)
    last = band[band["x"] == 40].iloc[0]
    assert last["run"] == "rnn" and last["n"] == 3
    assert np.isclose(last["mean"], smoothed[:, -1].mean()) and np.isclose(last["std"], smoothed[:, -1].std(ddof=1))
    assert np.isclose(last["hi"] - last["lo"], 2 * smoothed[:, -1].std(ddof=1))
    assert len(chart_data(at, "Loss", "runs")) == 0  # individual runs only on demand

    acc = chart_data(at, "Held-out accuracy", "band")
    at_20 = [s.eval[0].metrics["accuracy"] for s in snaps]
    assert np.isclose(acc.loc[acc["x"] == 20, "mean"].iloc[0], np.mean(at_20))
    profile = chart_data(at, "Gradient by input step", "band")
    assert sorted(profile["x"]) == [1, 2, 3, 4, 5, 6] and (profile["n"] == 3).all()
    assert sum(t.startswith("Gradient reaching each input") for t in titles(specs(at)) if t) == 1  # one mean map

    at.toggle(key="recurrent:individual").set_value(True).run()
    seeds = chart_data(at, "Loss", "runs")
    assert set(seeds["id"]) == {r.label for r in runs}

    buttons = {b.key for b in at.get("download_button")}
    for chart in ("Loss", "Held-out accuracy", "Gradient by input step, latest training step"):
        assert {f"export:{chart}:{fmt}" for fmt in ("PNG", "SVG", "CSV")} <= buttons, chart
    assert at.query_params["seeds"] in ("3", ["3"])


def test_more_seeded_runs_than_the_server_trains_at_once_are_refused_before_training():
    at = app({"models": "rnn,lstm", "task": "parity", "seeds": "3"}, page="pages/recurrent.py")
    assert any("2 run(s) × 3 seeds = 6 runs" in e.value for e in at.error)
    assert at.button(key="recurrent:train").disabled
