"""AppTest for every page: loads, controls present, a short run fills the three panels with the
run's own numbers, Stop works, bad query values fall back with a note."""

import numpy as np
import pytest
from pagetest import app, chart_data, every_slot_held, join_all, specs, titles, train, wait_jobs

from seqlab.ui.state import registry


def test_home_shows_timeline_equations_and_complexity_table():
    at = app()
    assert "seqlab" in at.title[0].value
    assert any("click a milestone" in (t or "") for t in titles(specs(at)))
    assert len(at.get("latex")) >= 5
    assert len(at.dataframe) == 1


def test_recurrent_page_trains_and_fills_all_three_panels():
    at = app(
        {"model": "rnn", "task": "parity", "seq_len": "6", "steps": "60", "eval_every": "20"}, page="pages/recurrent.py"
    )
    for label in ("model", "task", "init"):
        assert any(s.label == label for s in at.selectbox), label
    assert [b.label for b in at.button if b.label in ("Train", "Stop", "Reset")] == ["Train", "Stop", "Reset"]
    run = train(at, "recurrent")[0]
    snap = run.snapshot()
    assert snap.status == "completed" and snap.steps == 60
    all_specs = specs(at)
    t = titles(all_specs)
    assert "Loss" in t and "Gradient by input step, latest training step" in t
    assert any(x and x.startswith("Gradient reaching each input") for x in t)
    loss = chart_data(at, "Loss").dropna(subset=["smoothed"])
    assert loss["loss"].round(6).isin([round(r.loss, 6) for r in snap.train]).all()
    assert round(snap.train[-1].loss, 6) in set(loss["loss"].round(6))  # the chart shows this run's numbers
    probe = chart_data(at, "Exact ‖∂L/∂h_t‖ in the cell")  # the probe ran at step 50
    assert len(probe) == 6 and (probe["step"] == 50).all()
    assert "Gradient norm per parameter tensor" in t
    heat = chart_data(at, "Gradient reaching each input")
    assert set(heat["t"]) == set(range(1, 7))
    assert heat["norm"].max() == max(max(r.grad_by_time) for r in snap.train if r.step in set(heat["step"]))
    # the complexity panel draws once the background measurement is done
    wait_jobs()
    at.run()
    assert "Time per training step" in titles(specs(at))
    assert at.query_params["runs"] == [run.id] or at.query_params["runs"] == run.id


def test_stop_button_stops_a_long_run():
    at = app({"model": "lstm", "task": "adding", "steps": "1000000"}, page="pages/recurrent.py")
    at.button(key="recurrent:train").click().run()
    run = registry().visible(at.session_state["recurrent:runs"])[0]
    at.button(key="recurrent:stop").click().run()
    run.join(60)
    assert run.snapshot().status == "stopped"
    at.run()
    assert not at.exception


def test_bad_query_values_fall_back_with_a_visible_note():
    at = app({"model": "transformerzz", "hidden": "-5", "lr": "abc", "bogus": "1"}, page="pages/recurrent.py")
    notes = " ".join(i.value for i in at.info)
    assert "hidden" in notes and "lr" in notes and "bogus" in notes
    assert at.session_state["recurrent:hidden"] == 64


def test_a_link_to_runs_this_server_does_not_hold_says_which_ones():
    at = app({"runs": "gone-1,gone-2"}, page="pages/recurrent.py")
    notes = [i.value for i in at.info if "From the link" in i.value]
    assert len(notes) == 1 and "'gone-1', 'gone-2'" in notes[0] and "not on this server" in notes[0]
    assert at.session_state["recurrent:runs"] == []


def test_invalid_combination_shows_error_next_to_controls_not_traceback():
    at = app({"model": "rnn", "task": "recall"}, page="pages/recurrent.py")
    at.number_input(key="recurrent:seq_len").set_value(30).run()
    assert not at.exception
    assert any("seq_len" in e.value and "distinct keys" in e.value for e in at.error)
    assert at.button(key="recurrent:train").disabled


@pytest.mark.parametrize("page", ["pages/foundations.py"])
def test_foundations_mlp_trains_then_refuses_a_longer_sequence(page):
    at = app({"model": "mlp", "task": "reverse", "seq_len": "3", "steps": "30", "models": "mlp,rnn"}, page=page)
    at.button(key="foundations:train").click().run()
    join_all()
    at.run()
    assert "Loss" in titles(specs(at))
    assert at.number_input(key="foundations:eval_len").label == "evaluate at number of symbols L"
    next(
        b for b in at.button if b.label.startswith("Evaluate")
    ).click().run()  # twice the length: 6 symbols, 12 positions
    asked = "number of symbols L = 6 (12 input positions)"
    assert any(
        f"refuses {asked}; trained on number of symbols L = 3: 6 input positions" in e.value
        and "built for 6 input positions and cannot read 12" in e.value  # one unit, as the field says
        and "one block of weights" in e.value
        for e in at.error
    ), [e.value for e in at.error]
    assert any(f"**rnn** reads {asked}" in s.value for s in at.success)


def test_sessions_do_not_see_each_others_runs_unless_shared_by_link():
    alice = app({"model": "rnn", "task": "parity", "steps": "20"}, page="pages/recurrent.py")
    alice.button(key="recurrent:train").click().run()
    join_all()
    alice.run()
    (run_id,) = alice.session_state["recurrent:runs"]
    bob = app({"model": "rnn", "task": "parity"}, page="pages/recurrent.py")
    assert bob.session_state["recurrent:runs"] == []
    assert not any("completed" in p.proto.text for p in bob.get("progress"))
    shared = app({"model": "rnn", "task": "parity", "runs": run_id}, page="pages/recurrent.py")
    assert shared.session_state["recurrent:runs"] == [run_id]
    assert any("completed" in p.proto.text for p in shared.get("progress"))


def test_reruns_and_page_switches_keep_one_run():
    at = app({"model": "rnn", "task": "parity", "steps": "1000000"}, page="pages/recurrent.py")
    at.button(key="recurrent:train").click().run()
    (run_id,) = at.session_state["recurrent:runs"]
    at.number_input(key="recurrent:seed").set_value(3).run()  # a widget change
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/recurrent.py").run()
    assert at.session_state["recurrent:runs"] == [run_id]
    assert [r.id for r in registry().running() if r.owner == at.session_state["seqlab_owner"]] == [run_id]
    assert at.button(key="recurrent:train").disabled  # no second run while this one trains
    at.button(key="recurrent:stop").click().run()
    registry().get(run_id).join(60)
    assert registry().get(run_id).snapshot().status == "stopped"


def test_compare_trains_two_models_with_one_colour_each_across_panels():
    at = app(
        {"model": "rnn", "task": "parity", "steps": "30", "eval_every": "10", "models": "rnn,gru"},
        page="pages/recurrent.py",
    )
    assert at.session_state["recurrent:compare"] is True
    at.button(key="recurrent:train").click().run()
    join_all()
    at.run()
    snaps = [registry().get(i).snapshot() for i in at.session_state["recurrent:runs"]]
    assert [s.label for s in snaps] == ["rnn", "gru"] and all(s.status == "completed" for s in snaps)
    assert snaps[0].config.train.seed == snaps[1].config.train.seed
    scales = []
    for spec in specs(at):
        for layer in spec.get("layer", [spec]):
            color = layer.get("encoding", {}).get("color", {})
            if color.get("field") == "run":
                scales.append((tuple(color["scale"]["domain"]), tuple(color["scale"]["range"])))
    assert scales and len(set(scales)) == 1 and scales[0][0] == ("rnn", "gru")
    assert len([t for t in titles(specs(at)) if t and t.startswith("Gradient reaching")]) == 2


def test_settings_are_written_to_the_url():
    at = app(page="pages/recurrent.py")
    at.number_input(key="recurrent:seed").set_value(7).run()
    at.selectbox(key="recurrent:task").set_value("copy").run()
    assert at.query_params["seed"] in ("7", ["7"]) and at.query_params["task"] in ("copy", ["copy"])


def test_presets_load_their_settings_and_say_what_to_notice():
    at = app(page="pages/recurrent.py")
    at.selectbox(key="recurrent:preset").set_value("Vanishing gradients: RNN vs LSTM on adding, T=100").run()
    at.button[0].click().run()
    assert at.session_state["recurrent:models"] == ["rnn", "lstm"]
    assert at.session_state["recurrent:seq_len"] == 100 and at.session_state["recurrent:task"] == "adding"
    assert any("What to notice" in s.value for s in at.success)


def test_transformers_page_trains_and_shows_attention_maps_that_sum_to_one():
    at = app(
        {"task": "reverse", "seq_len": "5", "steps": "60", "eval_every": "20", "models": "gpt,lstm"},
        page="pages/transformers.py",
    )
    at.button(key="transformers:train").click().run()
    join_all()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    t = titles(specs(at))
    _, maps = registry().visible(at.session_state["transformers:runs"])[0].observers[0].snapshot()
    layer_entropy = [-(m * np.log(np.clip(m, 1e-12, None))).sum(-1).mean() for m in maps[-1]]  # per layer
    best = int(np.argmin(layer_entropy)) + 1
    assert "Loss" in t and f"gpt · layer {best} · head 1" in t  # opens on the sharpest layer …
    assert any(f"layer {best}: mean attention entropy {min(layer_entropy):.2f} nats" in c.value for c in at.caption)
    alpha = chart_data(at, f"gpt · layer {best} · head 1")
    assert len(alpha) == 10 * 10
    assert alpha.groupby("query")["weight"].sum().round(4).eq(1.0).all()
    assert (alpha[alpha["key"] > alpha["query"]]["weight"] == 0).all()  # GPT never looks ahead
    entropy = chart_data(at, "Attention entropy per head")
    latest = entropy[(entropy["head"] == f"L{best}·H1") & (entropy["step"] == entropy["step"].max())]["entropy"]
    w = alpha[alpha["weight"] > 0]
    by_hand = (-w["weight"] * np.log(w["weight"])).groupby(w["query"]).sum().mean()  # the map drawn beside it
    assert latest.item() == pytest.approx(by_hand, abs=1e-4)
    assert (
        at.select_slider[0].value
        == len(registry().visible(at.session_state["transformers:runs"])[0].observers[0].snapshot()[0]) - 1
    )


def test_emerging_page_trains_an_ssm_and_draws_its_kernel():
    at = app(
        {"task": "copy", "seq_len": "2", "delay": "10", "steps": "40", "eval_every": "20", "models": "ssm"},
        page="pages/emerging.py",
    )
    at.button(key="emerging:train").click().run()
    join_all()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    kernel = chart_data(at, "What the state space remembers")
    run = registry().visible(at.session_state["emerging:runs"])[0]
    assert kernel["lag"].max() == run.trainer.task.spec.length - 1
    assert "Loss" in titles(specs(at))


def test_complexity_lab_measures_and_reports_slopes_and_crossover():
    at = app(page="pages/complexity.py")
    at.multiselect(key="complexity:models").set_value(["lstm", "gpt", "attention-op"]).run()
    at.multiselect(key="complexity:lengths").set_value([64, 128, 256]).run()
    at.number_input(key="complexity:d").set_value(16).run()
    at.button(key="complexity:measure").click().run()
    wait_jobs()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    t = titles(specs(at))
    assert {
        "Time per training step",
        "FLOPs per training step",
        "Activations saved for backward",
        "Peak memory of a training step",
        "Maximum path length: input 1 → last output",
        "Sequential depth of the forward graph",
    } <= set(t)
    assert any(c.value.startswith("Times are the measuring thread's CPU time") for c in at.caption)
    path = chart_data(at, "Maximum path length")
    lstm_path = path[path["model"] == "lstm"].sort_values("n")["max_path_length"].tolist()
    assert lstm_path[2] - lstm_path[1] == 2 * (lstm_path[1] - lstm_path[0]) > 0  # ∝ n
    assert path[path["model"] == "gpt"]["max_path_length"].nunique() == 1  # constant
    table = at.dataframe[0].value
    lstm_flops = table[(table["model"] == "lstm") & (table["metric"] == "flops")].iloc[0]
    assert lstm_flops["agrees (±0.15)"] == "✓" and lstm_flops["theory"] == 1
    assert any("Crossover" in m.value and "gpt needs more FLOPs" in m.value for m in at.markdown)
    vaswani = at.dataframe[1].value.set_index("model")
    lstm_cell = vaswani.loc["lstm", "maximum path length"]  # e.g. "O(n) → n^0.98 (518 ops at n = 256)"
    assert lstm_cell.startswith("O(n) → n^") and abs(float(lstm_cell.split("^")[1].split()[0]) - 1) < 0.05
    assert vaswani.loc["gpt", "maximum path length"].startswith("O(1) → n^0.00")
    assert vaswani.loc["attention-op", "complexity per layer (FLOPs)"] == "O(n²·d) → n^2.00"


def test_emerging_page_shows_expert_load_per_layer_for_moe():
    at = app(
        {"task": "reverse", "seq_len": "4", "steps": "60", "eval_every": "20", "models": "moe", "layers": "2"},
        page="pages/emerging.py",
    )
    at.button(key="emerging:train").click().run()
    join_all()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    load = chart_data(at, "Expert load, layer 2")
    assert set(load["expert"]) == {1, 2, 3, 4} and load.groupby("step")["share"].sum().round(5).eq(1.0).all()
    assert any("active per token" in m.value for m in at.markdown)


def test_emerging_page_runs_a_search_in_the_background_and_draws_the_pareto_front():
    at = app(page="pages/emerging.py")
    at.multiselect(key="emerging:search_families").set_value(["gru", "gpt"]).run()
    at.selectbox(key="emerging:search_task").set_value("parity").run()
    at.number_input(key="emerging:search_budget").set_value(8).run()
    at.button(key="emerging:search").click().run()
    search = at.session_state["emerging:search_obj"]
    wait_jobs()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert search.status == "completed"
    data = chart_data(at, "Accuracy vs size")
    assert set(data.dropna(subset=["family"])["family"]) <= {"gru", "gpt"}
    assert "Pareto front" in set(data["front"].dropna())


@pytest.mark.parametrize(
    ("page", "query"),
    [
        ("recurrent", {"models": "gru,lstm", "task": "parity", "seq_len": "7", "seed": "5", "until": "accuracy=0.9"}),
        ("recurrent", {"model": "lstm", "task": "adding", "seq_len": "30", "seed": "3", "lr": "0.01", "clip": "0.5"}),
        ("transformers", {"model": "bert", "seed": "9", "steps": "77"}),
        ("seq2seq", {"models": "seq2seq,bahdanau", "seed": "4"}),
    ],
)
def test_every_seeded_widget_is_sent_with_its_link_value_as_its_default(page, query):
    """A widget made from Session State alone is sent with its parameter default, which the browser
    paints first (a shared link's seed 5 read 0): each one must carry the state value as its default."""
    at = app(query, f"pages/{page}.py")
    checked = []
    for kind in ("number_input", "selectbox", "toggle", "text_input", "multiselect"):
        for w in at.get(kind):
            if not (w.key or "").startswith(f"{page}:") or w.key == f"{page}:preset":
                continue
            if kind == "number_input":
                assert w.proto.default == float(w.value), w.key
            elif kind == "selectbox":
                assert w.proto.default == w.index, w.key
            elif kind == "multiselect":
                assert list(w.proto.default) == list(w.indices), w.key
            else:
                assert w.proto.default == w.value, w.key
            checked.append(w.key)
    assert f"{page}:seed" in checked and len(checked) >= 8, checked
    assert at.number_input(key=f"{page}:seed").value == int(query["seed"])


def test_complexity_panel_measure_again_drops_the_kept_points(monkeypatch):
    import seqlab.ui.panels as panels

    at = app({"model": "rnn", "task": "parity", "seq_len": "6"}, page="pages/recurrent.py")
    wait_jobs()
    at.run()
    again = [b for b in at.button if b.label == "Measure again"]
    assert len(again) == 1, [b.label for b in at.button]
    assert any("times are the measuring thread's CPU time (1 torch thread)" in c.value for c in at.caption)
    dropped = []
    monkeypatch.setattr(panels, "forget", lambda *a: dropped.append(a))
    again[0].click().run()
    assert dropped == [(["rnn"], panels.QUICK_LENGTHS, 64)]


def test_a_measurement_that_finds_every_slot_busy_says_it_waits_and_its_place_in_line():
    """Issue #17 item 4: a queued job shows why it has not started, not "Measuring…" for minutes."""
    with every_slot_held() as reg:
        at = app(page="pages/complexity.py")
        at.multiselect(key="complexity:models").set_value(["lstm"]).run()
        at.multiselect(key="complexity:lengths").set_value([32, 64]).run()
        at.button(key="complexity:measure").click().run()
        job = reg.job(at.session_state["job:complexity"])
        assert job.status == "queued"
        texts = [p.proto.text for p in at.get("progress")]
        assert texts == [f"waiting: {reg.max_running} jobs running — starts when one ends (1st in line)"]
        at.button(key="complexity:stop").click().run()
        assert job.wait(5) and job.status == "stopped"
        at.run()  # in a browser the panel's next poll sees the end and redraws the page
        assert any("Stopped" in w.value for w in at.warning)


def test_unsaturated_gates_are_said_in_a_sentence_not_drawn_as_a_flat_line():
    at = app({"model": "lstm", "task": "parity", "seq_len": "6", "steps": "50", "hidden": "16"}, "pages/recurrent.py")
    at.button(key="recurrent:train").click().run()
    join_all()
    at.run()
    gates = registry().visible(at.session_state["recurrent:runs"])[0].observers[0].snapshot()[-1]["gates"]
    assert max(max(g["saturated"]) for g in gates.values()) == 0.0  # a fresh LSTM: no gate near 0 or 1
    assert not any(t and t.startswith("Saturated gates") for t in titles(specs(at)))
    assert any(c.value.startswith("None to speak of: at most 0.00% of the units") for c in at.caption)
