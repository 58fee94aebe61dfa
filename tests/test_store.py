import json

from seqlab.config import RunConfig
from seqlab.store import RunStore
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
