import json
import re
import sys

import pytest
from storefake import DAMAGE, fake_run

from seqlab.config import RunConfig
from seqlab.store import RunStore, StoreError
from seqlab.train import Trainer


def test_store_keeps_config_every_record_and_the_result(tmp_path):
    store = RunStore(tmp_path)
    cfg = RunConfig.from_flat({"model": "rnn", "task": "parity", "steps": 25, "eval_every": 10})
    result = Trainer(cfg, [store.writer("run-1")]).run()
    assert store.ids() == ["run-1"]
    loaded = store.load("run-1")
    assert loaded["config"] == cfg.model_dump()
    assert [r["loss"] for r in loaded["history"]["train"]] == [r["loss"] for r in result.history["train"]]
    assert [r["step"] for r in loaded["history"]["eval"]] == [10, 20, 25]
    assert loaded["result"]["status"] == "completed"
    assert store.summary("run-1")["final_loss"] == result.final_loss


def test_a_run_cut_off_mid_way_is_listed_as_incomplete_with_its_records(tmp_path):
    store = RunStore(tmp_path)
    cfg = RunConfig.from_flat({"model": "rnn", "task": "parity", "steps": 5})
    writer = store.writer("crashed")
    trainer = Trainer(cfg, [writer])
    writer.on_start(trainer)
    writer.on_step(trainer.step(log=True))
    writer._flush()  # what the periodic flush would have written before a crash
    assert store.summary("crashed")["status"] == "incomplete"
    assert len(store.load("crashed")["history"]["train"]) == 1
    assert RunConfig.model_validate_json((tmp_path / "crashed" / "config.json").read_text()) == cfg  # can be rerun


def test_cli_train_save_and_runs_listing(tmp_path, capsys, monkeypatch):
    from seqlab.cli import main

    monkeypatch.setenv("SEQLAB_RUNS", str(tmp_path))
    assert main(["train", "--model", "gru", "--task", "parity", "--steps", "5", "--save", "--quiet", "--json"]) == 0
    run_id = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_id"]
    assert main(["runs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["id"] for r in listed["runs"]] == [run_id]
    assert main(["runs", "--show", "nope"]) == 2
    assert "no stored run" in capsys.readouterr().err


# -- a damaged store: each corruption costs only what is in the damaged file ------------------------------
CORRUPTIONS = {
    # damage: (status listed, 'runs --show' exit code, warning)
    "corrupt-result": ("incomplete", 0, r"result.json is not valid JSON .* shown as incomplete"),
    "empty-result": ("incomplete", 0, r"result.json is empty"),
    "corrupt-config": ("unreadable", 2, r"config.json is not valid JSON"),
    "records-cut": ("completed", 0, r"records.jsonl line 4 unreadable \(cut mid-write\?\) — skipped"),
    "records-garbage": ("completed", 0, r"records.jsonl: 2 lines unreadable \(lines 4, 5\) — skipped"),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_one_corrupt_file_costs_only_its_run_and_says_what_was_skipped(corruption, tmp_path, capsys, monkeypatch):
    from seqlab.cli import main

    status, show_exit, warning = CORRUPTIONS[corruption]
    fake_run(tmp_path, "a-good-run")
    DAMAGE[corruption](fake_run(tmp_path, "b-bad-run"))
    monkeypatch.setenv("SEQLAB_RUNS", str(tmp_path))
    assert main(["runs", "--json"]) == 0
    out, err = capsys.readouterr()
    listed = {r["id"]: r["status"] for r in json.loads(out.splitlines()[-1])["runs"]}
    assert listed == {"a-good-run": "completed", "b-bad-run": status}
    if not corruption.startswith("records"):  # the listing reads config and result, not the records
        assert re.search(r"^seqlab: warning: run b-bad-run: " + warning, err), err
    assert main(["runs", "--show", "b-bad-run"]) == show_exit
    out, err = capsys.readouterr()
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert re.search(warning, err), err


def test_a_record_line_cut_mid_write_loses_only_that_line(tmp_path):
    folder = fake_run(tmp_path, "run", records=20)
    with open(folder / "records.jsonl", "a") as f:
        f.write('{"kind": "train", "step": 21, "lo')
    run = RunStore(tmp_path).load("run")
    assert [r["step"] for r in run["history"]["train"]] == list(range(1, 21))
    assert run["problems"] == ["run run: records.jsonl line 21 unreadable (cut mid-write?) — skipped"]


def test_a_bad_config_is_recovered_from_the_copy_in_the_result(tmp_path):
    folder = fake_run(tmp_path, "run")
    (folder / "config.json").write_text("[]")
    run = RunStore(tmp_path).load("run")
    assert run["config"]["model"]["name"] == "rnn" and len(run["history"]["train"]) == 3
    assert run["problems"] == ["run run: config.json holds a JSON list, not an object — using the copy in result.json"]


@pytest.mark.parametrize("bad_id", ["../elsewhere/x", "/etc", "..", ".hidden", "a/b", "x\ny", ""])
def test_run_ids_outside_the_store_are_refused_even_when_the_folder_exists(bad_id, tmp_path, capsys, monkeypatch):
    from seqlab.cli import main

    fake_run(tmp_path, "elsewhere/x")  # a real run folder, but not inside the store
    (tmp_path / "store").mkdir()
    monkeypatch.setenv("SEQLAB_RUNS", str(tmp_path / "store"))
    assert main(["runs", "--show", bad_id]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "is not a run id" in err


def test_an_unknown_run_id_suggests_the_nearest_stored_one(tmp_path):
    fake_run(tmp_path, "20250101-120000-rnn-parity-1a2b3c")
    with pytest.raises(
        StoreError,
        match=r"no stored run '20250101-120000-rnn-parity-1a2b3d'.*did you mean "
        r"'20250101-120000-rnn-parity-1a2b3c'",
    ):
        RunStore(tmp_path).load("20250101-120000-rnn-parity-1a2b3d")


def test_a_store_that_is_a_file_or_cannot_be_made_is_refused_before_training(tmp_path, capsys, monkeypatch):
    from seqlab.cli import main

    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setattr(Trainer, "run", lambda self: pytest.fail("trained before refusing the store"))
    for root, why in ((tmp_path / "file", "is a file, not a folder"), ("/proc/x", "cannot be created")):
        monkeypatch.setenv("SEQLAB_RUNS", str(root))
        assert main(["train", "--model", "rnn", "--task", "parity", "--save", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and why in err and "set SEQLAB_RUNS to a folder" in err
    monkeypatch.setenv("SEQLAB_RUNS", str(tmp_path / "file"))
    assert main(["runs"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_a_reader_that_closes_the_pipe_ends_the_command_quietly(tmp_path, monkeypatch, capsys):
    from seqlab.cli import main

    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError

        def flush(self):
            pass

    fake_run(tmp_path, "run")
    monkeypatch.setenv("SEQLAB_RUNS", str(tmp_path))
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["runs", "--show", "run"]) == 141
    assert capsys.readouterr().err == ""
