"""The History page (table, filter, overlay, rename/tag/delete, read-only links, bad ids) and the classroom
replay (a recorded preset replayed instantly draws its records; 10× runs ten times as far per poll)."""

from pagetest import app, chart_data
from storefake import fake_db_run

from seqlab.presets import DEFAULTS, PRESETS, Preset
from seqlab.replay import Replay, StoredRun, latest_recording, record_preset, recording_tag
from seqlab.store import RunStore
from seqlab.ui.history import history_table, run_again_link
from seqlab.ui.panels import PRESET_SETTINGS

PAGE = "pages/history.py"


def _three_runs() -> RunStore:
    store = RunStore()
    fake_db_run(store, "run-rnn-a", records=4, flat={"seq_len": 6}, name="first")
    fake_db_run(store, "run-lstm-b", records=6, flat={"model": "lstm", "seq_len": 6})
    fake_db_run(store, "run-gru-c", records=5, flat={"model": "gru", "seq_len": 8}, tag="lecture")
    return store


def _select(at, rows: list[int]):
    at.session_state["history:table"] = {"selection": {"rows": rows, "columns": []}}
    return at.run()


def test_table_lists_every_run_with_its_numbers_and_filters_by_model_and_tag():
    _three_runs()
    at = app(page=PAGE)
    table = at.dataframe[0].value.set_index("id")
    assert sorted(table.index) == ["run-gru-c", "run-lstm-b", "run-rnn-a"]
    assert table.loc["run-lstm-b", "steps"] == 6 and table.loc["run-rnn-a", "name"] == "first"
    assert table.loc["run-rnn-a", "final loss"] == 0.5 and table.loc["run-gru-c", "final"] == 0.75
    assert table.loc["run-gru-c", "tags"] == "lecture" and "n=8" in table.loc["run-gru-c", "settings"]
    at.multiselect(key="history:model").set_value(["lstm", "rnn"]).run()
    assert sorted(at.dataframe[0].value["id"]) == ["run-lstm-b", "run-rnn-a"]
    at.multiselect(key="history:model").set_value([]).run()
    at.selectbox(key="history:tag").set_value("lecture").run()
    assert list(at.dataframe[0].value["id"]) == ["run-gru-c"]


def test_two_selected_runs_are_overlaid_with_their_recorded_loss_points():
    store = _three_runs()
    at = _select(app(page=PAGE), [1, 2])  # newest first: lstm-b, rnn-a
    assert not at.exception
    loss = chart_data(at, "Loss", "train")
    assert set(loss["run"]) == {"lstm", "first"}
    for run_id, label in (("run-lstm-b", "lstm"), ("run-rnn-a", "first")):
        recorded = [r["loss"] for r in store.load(run_id)["history"]["train"]]
        assert sorted(loss[loss["run"] == label]["loss"].round(9)) == sorted(round(v, 9) for v in recorded)
    heatmaps = [s for s in at.get("vega_lite_chart") if "Gradient reaching each" in s.proto.spec]
    assert len(heatmaps) == 2


def test_rename_tag_and_delete_after_confirming():
    store = _three_runs()
    at = _select(app(page=PAGE), [2])  # run-rnn-a
    at.text_input(key="history:name:run-rnn-a").set_value("baseline rnn")
    at.button(key="history:rename").click().run()
    assert store.summary("run-rnn-a")["name"] == "baseline rnn"
    at.text_input(key="history:new_tag").set_value("week 2").run()
    at.button(key="history:add_tag").click().run()
    assert store.summary("run-rnn-a")["tags"] == ["week 2"]
    at.button(key="history:delete").click().run()
    assert "run-rnn-a" in store.ids() and "cannot be undone" in at.warning[0].value
    at.button(key="history:delete_no").click().run()
    assert "run-rnn-a" in store.ids() and not at.warning
    _select(at, [2])
    at.button(key="history:delete").click().run()
    at.button(key="history:delete_yes").click().run()
    assert store.ids() == ["run-gru-c", "run-lstm-b"]
    assert len(at.dataframe[0].value) == 2


def test_a_run_link_opens_it_read_only_with_a_run_again_link():
    store = _three_runs()
    at = app({"run": "run-gru-c"}, page=PAGE)
    assert at.subheader[0].value == "gru on parity"
    assert "Read-only" in at.caption[0].value and "5 steps" in at.caption[0].value
    assert not [b for b in at.button if b.key and b.key.startswith("history:")]  # nothing to change
    assert set(chart_data(at, "Loss", "train")["run"]) == {"gru"}
    assert any("/recurrent?model=gru&task=parity&seq_len=8" in m.value for m in at.markdown)
    assert run_again_link(store.summary("run-gru-c")).startswith("/recurrent?model=gru&task=parity")


def test_a_bad_or_unknown_run_id_in_the_link_gets_a_clear_note_and_reads_nothing():
    _three_runs()
    at = app({"run": "../../etc/passwd"}, page=PAGE)
    assert "is not a run id" in at.warning[0].value and not at.get("vega_lite_chart")
    at = app({"run": "run-gru-x"}, page=PAGE)
    assert "no stored run 'run-gru-x'" in at.warning[0].value and "did you mean 'run-gru-c'" in at.warning[0].value


def test_history_table_of_a_thousand_runs_keeps_one_row_each():
    store = RunStore()
    fake_db_run(store, "one", records=2)
    summary = store.list()[0]
    many = [{**summary, "id": f"r{i}", "created": summary["created"] + i} for i in range(1000)]
    table = history_table(many)
    assert len(table) == 1000 and table["id"].iloc[999] == "r999" and (table["steps"] == 2).all()


# -- classroom replay ------------------------------------------------------------------------------------------
class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_ten_times_speed_shows_ten_times_as_many_recorded_seconds_per_poll():
    store = RunStore()
    fake_db_run(store, "slow", records=60)  # a step every 0.01 recorded seconds
    recording = [store.load("slow")]
    clock = FakeClock()
    one, ten = Replay(recording, 1.0, clock), Replay(recording, 10.0, clock)
    clock.t = 0.025  # one poll, half-way between two records
    assert one.runs[0].snapshot().steps == 2 and ten.runs[0].snapshot().steps == 25
    assert one.playing and ten.playing and one.runs[0].snapshot().status == "running"
    clock.t = 0.055  # the next poll
    assert one.runs[0].snapshot().steps == 5 and ten.runs[0].snapshot().steps == 55
    clock.t = 0.065
    assert one.playing and not ten.playing and ten.runs[0].snapshot().status == "completed"


def test_a_stored_run_reads_back_as_the_panels_read_a_live_one():
    store = RunStore()
    fake_db_run(store, "done", records=3)
    snap = StoredRun(store.load("done")).snapshot()
    assert (snap.steps, snap.total_steps, snap.baseline_loss, snap.params) == (3, 3000, 0.69, 10)
    assert [r.loss for r in snap.train] == [1.0, 0.5, 1 / 3] and snap.eval[0].metrics == {"accuracy": 0.75}


def _load_preset(name: str):
    at = app(page="pages/recurrent.py")
    at.selectbox(key="recurrent:preset").set_value(name).run()
    return at.button(key="recurrent:load_preset").click().run()


def test_a_recorded_tiny_preset_replays_instantly_with_the_recorded_loss_points():
    real = PRESETS["recurrent"][0]  # recorded under the real preset's name, so its page offers the replay
    tiny = Preset(real.name, real.models, {"task": "adding", "seq_len": 6, "steps": 12, "hidden": 8}, "tiny")
    store = RunStore()
    done = record_preset("recurrent", tiny, store, DEFAULTS["recurrent"], budget=60, margin=0)
    assert [r["steps"] for r in done["runs"]] == [12, 12] and done["tag"] == recording_tag("recurrent", real.name)
    recording = latest_recording(store, "recurrent", real.name)
    assert [r["name"] for r in recording] == ["rnn", "lstm"] and len({r["group_id"] for r in recording}) == 1

    at = _load_preset(real.name)
    assert at.button(key="recurrent:replay_start").label == "Replay the recorded run"
    (settings,) = [e for e in at.expander if e.label == PRESET_SETTINGS]
    assert not [b for b in settings.button if b.key == "recurrent:replay_start"]  # beside Train, not folded
    at.radio(key="recurrent:replay_speed").set_value("instantly")
    at.button(key="recurrent:replay_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Replay" in i.value and "recorded" in i.value for i in at.info)
    loss = chart_data(at, "Loss", "train")
    for run in recording:
        recorded = sorted(round(r["loss"], 9) for r in run["history"]["train"])
        assert sorted(loss[loss["run"] == run["name"]]["loss"].round(9)) == recorded


def test_a_fresh_install_offers_no_replay_but_says_how_to_record_one():
    at = _load_preset(PRESETS["recurrent"][0].name)
    assert not [b for b in at.button if b.key == "recurrent:replay_start"]
    (settings,) = [e for e in at.expander if e.label == PRESET_SETTINGS]  # for the teacher: folded away
    assert any("seqlab record --page recurrent --preset vanishing-gradients" in c.value for c in settings.caption)
