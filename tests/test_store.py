"""The run store through the CLI (``train --save``, ``seqlab runs``), and importing the retired folder store."""

import json
import re
import sys

import pytest
from storefake import DAMAGE, fake_db_run, fake_run

from seqlab.cli import main
from seqlab.config import RunConfig
from seqlab.store import RunStore, StoreError
from seqlab.train import Trainer


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_cli_train_save_records_the_run_and_runs_lists_shows_and_filters_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SEQLAB_HOME", str(tmp_path))
    fake_db_run(RunStore(tmp_path), "older", flat={"model": "lstm"})
    assert main(["train", "--model", "gru", "--task", "parity", "--steps", "5", "--save", "--quiet", "--json"]) == 0
    trained = _last_json(capsys)
    run_id = trained["run_id"]
    assert main(["runs", "--json"]) == 0
    assert [r["id"] for r in _last_json(capsys)["runs"]] == [run_id, "older"]  # newest first
    assert main(["runs", "--model", "gru", "--json"]) == 0
    assert [r["id"] for r in _last_json(capsys)["runs"]] == [run_id]
    assert main(["runs", "--show", run_id, "--json"]) == 0
    shown = _last_json(capsys)["run"]
    assert (shown["status"], shown["source"], shown["final_loss"]) == ("completed", "cli", trained["final_loss"])
    assert [r["step"] for r in shown["history"]["train"]] == [1, 2, 3, 4, 5]
    assert main(["runs", "--show", "nope"]) == 2
    assert "no stored run" in capsys.readouterr().err


def test_runs_rename_tag_and_delete_with_confirmation(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SEQLAB_HOME", str(tmp_path))
    store = RunStore(tmp_path)
    fake_db_run(store, "a")
    fake_db_run(store, "b")
    assert main(["runs", "rename", "a", "baseline"]) == 0
    assert main(["runs", "tag", "a", "lecture-3"]) == 0
    assert main(["runs", "delete", "b"]) == 2  # no --yes: nothing deleted
    assert store.ids() == ["a", "b"]
    assert main(["runs", "delete", "b", "--yes"]) == 0
    capsys.readouterr()
    assert main(["runs", "--tag", "lecture-3"]) == 0
    listed = capsys.readouterr().out
    assert re.match(r"a +completed +rnn +parity +3 steps .* loss 0\.5  'baseline'  \[lecture-3\]$", listed), listed
    assert store.ids() == ["a"]


def test_a_store_that_is_a_file_or_cannot_be_made_is_refused_before_training(tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setattr(Trainer, "run", lambda self: pytest.fail("trained before refusing the store"))
    for home, why in ((tmp_path / "file", "is a file, not a folder"), ("/proc/x", "cannot be created")):
        monkeypatch.setenv("SEQLAB_HOME", str(home))
        assert main(["train", "--model", "rnn", "--task", "parity", "--save", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and why in err and "set SEQLAB_HOME to a folder" in err


def test_a_reader_that_closes_the_pipe_ends_the_command_quietly(tmp_path, monkeypatch, capsys):
    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError

        def flush(self):
            pass

    fake_db_run(RunStore(tmp_path), "run")
    monkeypatch.setenv("SEQLAB_HOME", str(tmp_path))
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["runs", "--show", "run"]) == 141
    assert capsys.readouterr().err == ""


# -- importing the folder store: each damaged file costs only what is in it -----------------------------------
def test_import_brings_in_a_folder_run_with_every_record_and_twice_changes_nothing(tmp_path):
    store = RunStore(tmp_path / "home")
    cfg = RunConfig.from_flat({"model": "rnn", "task": "parity", "steps": 4, "hidden": 8})
    folder = fake_run(tmp_path / "runs", "20250101-120000-rnn-parity-1a2b3c", records=4)
    (folder / "config.json").write_text(json.dumps(cfg.model_dump()))
    (folder / "meta.json").write_text(json.dumps({"group_id": "seeds-1", "tag": "old"}))
    done = store.import_folder(tmp_path / "runs")
    assert done == {"imported": ["20250101-120000-rnn-parity-1a2b3c"], "skipped": [], "problems": []}
    run = store.load("20250101-120000-rnn-parity-1a2b3c")
    assert RunConfig.model_validate(run["config"]) == cfg
    assert [r["loss"] for r in run["history"]["train"]] == [1.0, 0.5, 1 / 3, 0.25]
    assert (run["status"], run["source"], run["group_id"], run["tags"]) == ("completed", "import", "seeds-1", ["old"])
    assert run["final_loss"] == 0.25 and run["env"]["imported_from"] == str(folder.resolve())
    again = store.import_folder(tmp_path / "runs")
    assert again["imported"] == [] and again["skipped"][0]["reason"] == "already in the database"


IMPORTED = {
    # damage: (status after import, or None when skipped; train records kept; the one problem reported)
    "corrupt-result": ("interrupted", 3, r"result.json is not valid JSON .* — imported as interrupted"),
    "empty-result": ("interrupted", 3, r"result.json is empty \(cut mid-write\?\) — imported as interrupted"),
    "corrupt-config": (None, 0, r"config.json is not valid JSON"),
    "corrupt-config-with-result": ("completed", 3, r"config.json holds a JSON list, not an object — using the copy"),
    "records-cut": ("completed", 3, r"records.jsonl line 4 unreadable \(cut mid-write\?\) — skipped"),
    "records-garbage": ("completed", 3, r"records.jsonl: 2 lines unreadable \(lines 4, 5\) — skipped"),
}


@pytest.mark.parametrize("damage", list(IMPORTED))
def test_one_damaged_folder_costs_only_its_own_run_and_says_what_was_skipped(damage, tmp_path):
    status, records, problem = IMPORTED[damage]
    fake_run(tmp_path / "runs", "a-good-run")
    DAMAGE[damage](fake_run(tmp_path / "runs", "b-bad-run"))
    store = RunStore(tmp_path / "home")
    done = store.import_folder(tmp_path / "runs")
    assert len(done["problems"]) == 1 and re.match(r"run b-bad-run: " + problem, done["problems"][0])
    assert store.summary("a-good-run")["status"] == "completed"
    assert len(store.load("a-good-run")["history"]["train"]) == 3
    if status is None:
        assert store.ids() == ["a-good-run"] and done["skipped"][0]["id"] == "b-bad-run"
    else:
        bad = store.load("b-bad-run")
        assert bad["status"] == status and len(bad["history"]["train"]) == records


def test_import_reads_only_folders_whose_names_are_run_ids(tmp_path):
    fake_run(tmp_path / "runs", "good")
    fake_run(tmp_path / "runs", ".hidden")
    store = RunStore(tmp_path / "home")
    assert store.import_folder(tmp_path / "runs")["imported"] == ["good"]
    with pytest.raises(StoreError, match=r"^dir: .* is not a folder of runs"):
        store.import_folder(tmp_path / "missing")


def test_a_cli_run_that_raises_is_recorded_as_failed_with_its_records(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQLAB_HOME", str(tmp_path))
    real_step, calls = Trainer.step, []

    def step_then_fail(self, log=True, t0=None):
        calls.append(1)
        if len(calls) > 2:
            raise RuntimeError("boom")
        return real_step(self, log, t0)

    monkeypatch.setattr(Trainer, "step", step_then_fail)
    with pytest.raises(RuntimeError, match="boom"):
        main(["train", "--model", "rnn", "--task", "parity", "--steps", "9", "--save", "--quiet"])
    (run,) = RunStore(tmp_path).list()
    kept = RunStore(tmp_path).load(run["id"])
    assert kept["status"] == "failed" and kept["result"]["error"] == "RuntimeError: boom"
    assert [r["step"] for r in kept["history"]["train"]] == [1, 2]
