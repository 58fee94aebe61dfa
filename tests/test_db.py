import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from storefake import fake_db_run, fake_trainer

from seqlab.config import RunConfig
from seqlab.store import RunStore, StoreError, db
from seqlab.train import Observer, Trainer
from seqlab.train.live import RunRegistry
from seqlab.train.records import StepRecord

TESTS = Path(__file__).parent
V1_FIXTURE = TESTS / "fixtures" / "seqlab-db-v1.sql"


def _child(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{TESTS.parent}{os.pathsep}{TESTS}"}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, stderr=subprocess.PIPE, text=True)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_trained_run_keeps_config_every_record_environment_and_result(tmp_path):
    store = RunStore(tmp_path)
    cfg = RunConfig.from_flat({"model": "rnn", "task": "parity", "steps": 25, "eval_every": 10, "hidden": 8})
    result = Trainer(cfg, [store.writer("run-1", group_id="g", tag="demo")]).run()
    run = store.load("run-1")
    assert RunConfig.model_validate(run["config"]) == cfg
    assert [r["loss"] for r in run["history"]["train"]] == [r["loss"] for r in result.history["train"]]
    assert [r["grad_by_time"] for r in run["history"]["train"]] == [r["grad_by_time"] for r in result.history["train"]]
    assert len(run["history"]["train"][0]["grad_by_time"]) == 10
    assert [r["step"] for r in run["history"]["eval"]] == [10, 20, 25]
    assert (run["status"], run["steps"], run["group_id"], run["tags"]) == ("completed", 25, "g", ["demo"])
    assert run["final_loss"] == result.final_loss and run["result"]["metrics"] == result.metrics
    assert run["env"]["device"] == "cpu" and run["env"]["torch"] and run["env"]["host"]
    assert (tmp_path / "seqlab.db").exists() and store.ids() == ["run-1"]


def test_a_second_run_under_a_stored_id_is_refused_and_the_first_is_kept(tmp_path):
    store = RunStore(tmp_path)
    fake_db_run(store, "run", records=4)
    with pytest.raises(StoreError, match="^run: a run with this id is already stored"):
        fake_db_run(store, "run", records=2)
    assert [r["step"] for r in store.load("run")["history"]["train"]] == [1, 2, 3, 4]


def test_the_writer_holds_records_at_most_a_second(tmp_path):
    now = [0.0]
    store = RunStore(tmp_path)
    w = db.RunWriter(store, "run", clock=lambda: now[0])
    w.on_start(fake_trainer())
    for step, t in enumerate((0.1, 0.5, 0.99), 1):
        now[0] = t
        w.on_step(StepRecord(step, 1.0, 1.0, None, t))
    assert store.load("run")["history"]["train"] == []
    now[0] = 1.0
    w.on_step(StepRecord(4, 1.0, 1.0, None, 1.0))
    assert [r["step"] for r in store.load("run")["history"]["train"]] == [1, 2, 3, 4]
    assert store.summary("run")["status"] == "running"


KILLED_CHILD = """
import sys
from seqlab.config import RunConfig
from seqlab.store import RunStore
from seqlab.train import Trainer
cfg = RunConfig.from_flat({"model": "rnn", "task": "parity", "steps": 10_000_000, "hidden": 8, "seq_len": 5,
                           "batch_size": 4, "eval_every": 100, "device": "cpu"})
Trainer(cfg, [RunStore(sys.argv[1]).writer("killed", flush_every=0.2)]).run()
"""


def test_a_killed_training_process_leaves_an_interrupted_run_with_its_flushed_records(tmp_path):
    store = RunStore(tmp_path)
    fake_db_run(store, "finished", records=5)
    child = _child(KILLED_CHILD, str(tmp_path))
    try:
        seen = 0
        for _ in range(600):  # until two flushes landed
            rows = store._query("SELECT steps FROM runs WHERE id = 'killed'")
            if rows and rows[0][0] > seen > 0:
                break
            seen = rows[0][0] if rows else 0
            time.sleep(0.05)
        assert child.poll() is None, child.stderr.read()
        seen = store.summary("killed")["steps"]
        assert seen > 0 and store.summary("killed")["status"] == "running"  # its process is alive
    finally:
        child.kill()  # SIGKILL: no handler, no flush, no on_end
        child.wait()
    reopened = RunStore(tmp_path)
    run = reopened.load("killed")
    steps = [r["step"] for r in run["history"]["train"]]
    assert run["status"] == "interrupted" and run["result"] is None
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= seen
    finished = reopened.load("finished")
    assert finished["status"] == "completed" and [r["step"] for r in finished["history"]["train"]] == [1, 2, 3, 4, 5]


WRITING_CHILD = """
import sys, time
from pathlib import Path
from storefake import fake_db_run
from seqlab.store import RunStore
home = Path(sys.argv[1])
(home / (sys.argv[2] + ".ready")).touch()
while len(list(home.glob("*.ready"))) < 2:  # start writing together, not one after the other's import
    time.sleep(0.01)
fake_db_run(RunStore(home), sys.argv[2], records=300)  # a commit per record: 301 transactions
"""


def test_two_processes_write_at_once_and_both_runs_are_whole(tmp_path):
    RunStore(tmp_path).ensure_writable()
    children = [_child(WRITING_CHILD, str(tmp_path), name) for name in ("left", "right")]
    for c in children:
        assert c.wait(timeout=120) == 0, c.stderr.read()
    store = RunStore(tmp_path)
    for name in ("left", "right"):
        run = store.load(name)
        assert run["status"] == "completed"
        assert [r["step"] for r in run["history"]["train"]] == list(range(1, 301))


def test_a_run_left_running_by_a_dead_process_is_interrupted_and_one_by_a_live_process_is_not(tmp_path):
    fake_db_run(RunStore(tmp_path), "mine", end=False)  # this process: alive
    fake_db_run(RunStore(tmp_path), "theirs", end=False)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with sqlite3.connect(tmp_path / "seqlab.db") as con:
        con.execute("UPDATE runs SET pid = ? WHERE id = 'theirs'", (int(gone.stdout),))
    store = RunStore(tmp_path)
    assert {r["id"]: r["status"] for r in store.list()} == {"mine": "running", "theirs": "interrupted"}
    assert len(store.load("theirs")["history"]["train"]) == 3
    with pytest.raises(StoreError, match="'mine' is still running; stop it"):
        store.delete("mine")


def test_a_run_whose_pid_now_belongs_to_another_process_is_interrupted(tmp_path):
    fake_db_run(RunStore(tmp_path), "reused", end=False)
    with sqlite3.connect(tmp_path / "seqlab.db") as con:  # the same pid, started at another time
        con.execute("UPDATE runs SET env = json_set(env, '$.process_start', '1') WHERE id = 'reused'")
    con.close()
    assert RunStore(tmp_path).summary("reused")["status"] == "interrupted"


def test_list_filters_sorts_and_limits(tmp_path):
    store = RunStore(tmp_path)
    fake_db_run(store, "a", records=3, tag="x", group_id="g")
    fake_db_run(store, "b", records=9, group_id="g", flat={"model": "lstm"})
    fake_db_run(store, "c", records=5, status="stopped", flat={"model": "lstm"})
    ids = lambda **kw: [r["id"] for r in store.list(**kw)]  # noqa: E731
    assert ids() == ["c", "b", "a"]  # newest first
    assert ids(model="lstm") == ["c", "b"] and ids(status="stopped") == ["c"] and ids(tag="x") == ["a"]
    assert ids(group="g", model="lstm") == ["b"] and ids(task="adding") == []
    assert ids(sort="steps") == ["a", "c", "b"] and ids(sort="-steps", limit=2) == ["b", "c"]
    assert [r["id"] for r in store.group("g")] == ["a", "b"]
    with pytest.raises(StoreError, match=r"sort: cannot sort by 'stpes'; did you mean 'steps'"):
        store.list(sort="stpes")


def test_runs_sort_takes_a_descending_key_after_a_space_as_typed(tmp_path, capsys, monkeypatch):
    from seqlab.cli import main

    store = RunStore(tmp_path)
    fake_db_run(store, "a", records=3)
    fake_db_run(store, "b", records=9)
    monkeypatch.setenv("SEQLAB_HOME", str(tmp_path))
    assert main(["runs", "--sort", "-steps", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["id"] for r in listed["runs"]] == ["b", "a"]


def test_rename_tag_and_delete_change_only_their_run(tmp_path):
    store = RunStore(tmp_path)
    fake_db_run(store, "keep")
    fake_db_run(store, "drop")
    store.add_snapshot("drop", "experts", 3, [{"share": 0.5}])
    store.rename("keep", "the good one")
    store.tag("keep", "lecture 3")
    store.tag("keep", "lecture 3")  # twice is once
    store.delete("drop")
    assert store.ids() == ["keep"]
    assert store.summary("keep")["name"] == "the good one" and store.summary("keep")["tags"] == ["lecture 3"]
    for table in ("records", "snapshots", "tags"):
        assert store._query(f"SELECT count(*) FROM {table} WHERE run_id = 'drop'") == [(0,)]
    with pytest.raises(StoreError, match="no stored run 'drop'"):
        store.load("drop")


def test_snapshots_keep_arrays_exactly(tmp_path):
    store = RunStore(tmp_path)
    fake_db_run(store, "run")
    maps = np.random.default_rng(0).random((2, 4, 7, 7)).astype(np.float32)  # (layers, heads, T, T)
    store.add_snapshot("run", "attention", 10, {"steps": [0, 10], "maps": [maps, maps * 2]})
    store.add_snapshot("run", "experts", 10, [{"step": 10, "expert": 1, "share": 0.25}])
    (att,) = store.snapshots("run", "attention")
    assert att["step"] == 10 and att["payload"]["steps"] == [0, 10]
    np.testing.assert_array_equal(att["payload"]["maps"][1], maps * 2)
    assert att["payload"]["maps"][0].dtype == np.float32
    assert [s["name"] for s in store.snapshots("run")] == ["attention", "experts"]


# -- schema versions --------------------------------------------------------------------------------------------
def test_an_empty_v0_file_is_migrated_to_the_current_schema_in_wal_mode(tmp_path):
    sqlite3.connect(tmp_path / "seqlab.db").close()  # version 0: an SQLite file with no tables
    store = RunStore(tmp_path)
    fake_db_run(store, "run")
    assert store._query("SELECT version FROM schema_version") == [(db.SCHEMA,)]
    assert store._query("PRAGMA journal_mode") == [("wal",)]


def test_a_database_written_at_schema_1_is_read_and_migrated_forward(tmp_path, monkeypatch):
    # the fixture is a dump of a real v1 database: it stays what v1 was when MIGRATIONS[1] is edited by mistake
    con = sqlite3.connect(tmp_path / "seqlab.db")
    con.executescript(V1_FIXTURE.read_text())
    con.close()
    assert [r["step"] for r in RunStore(tmp_path).load("v1-run")["history"]["train"]] == [1, 2, 3]
    monkeypatch.setattr(db, "SCHEMA", 2)
    monkeypatch.setitem(db.MIGRATIONS, 2, ["ALTER TABLE runs ADD COLUMN note TEXT DEFAULT 'migrated'"])
    store = RunStore(tmp_path)
    assert store.load("v1-run")["status"] == "completed"
    assert store._query("SELECT note FROM runs") == [("migrated",)]
    assert [v for (v,) in store._query("SELECT version FROM schema_version ORDER BY version")] == [1, 2]


def test_a_database_from_a_newer_schema_is_refused_and_left_unchanged(tmp_path):
    old = RunStore(tmp_path)
    fake_db_run(old, "run")
    old.close()
    path = tmp_path / "seqlab.db"
    with sqlite3.connect(path) as con:
        con.execute("INSERT INTO schema_version VALUES (?, 0)", (db.SCHEMA + 1,))
    con.close()
    before = _digest(path)
    for use in (lambda s: s.list(), lambda s: s.load("run"), lambda s: fake_db_run(s, "new")):
        with pytest.raises(StoreError, match=r"SEQLAB_HOME: .* has schema version 2, newer than this seqlab reads"):
            use(RunStore(tmp_path))
    assert _digest(path) == before


def test_a_corrupt_database_is_refused_and_left_unchanged(tmp_path):
    path = tmp_path / "seqlab.db"
    path.write_bytes(b"this is not SQLite" * 100)
    for use in (lambda s: s.list(), lambda s: s.ensure_writable()):
        with pytest.raises(StoreError, match=r"is damaged \(file is not a database\); move it aside"):
            use(RunStore(tmp_path))
    assert path.read_bytes() == b"this is not SQLite" * 100


def test_a_locked_database_is_reported_after_the_busy_timeout(tmp_path):
    store = RunStore(tmp_path, busy_seconds=0.1)
    fake_db_run(store, "run")
    holder = sqlite3.connect(tmp_path / "seqlab.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match=r"is locked by another process \(waited 0.1 s\)"):
            store.rename("run", "x")
        assert store.summary("run")["name"] == ""  # WAL: reading goes on while another process writes
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    store.rename("run", "x")
    assert store.summary("run")["name"] == "x"


def test_a_home_that_cannot_be_written_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    cases = [
        (tmp_path / "file", "is a file, not a folder"),
        (tmp_path / "file" / "inner", r"cannot be created \(Not a directory\)"),
    ]
    for root, why in cases:
        with pytest.raises(StoreError, match=f"SEQLAB_HOME: the run store .* {why}; set SEQLAB_HOME"):
            RunStore(root).ensure_writable()
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # tests run as root, where chmod does not bite
    with pytest.raises(StoreError, match="is not writable"):
        RunStore(tmp_path / "home").ensure_writable()
    assert (tmp_path / "file").read_text() == "not a folder"


@pytest.mark.parametrize("bad_id", ["../../etc/passwd", "/etc/passwd", "..", ".hidden", "a/b", "x\ny", ""])
def test_run_ids_that_are_paths_are_refused_by_every_call(bad_id, tmp_path):
    store = RunStore(tmp_path / "home")
    fake_db_run(store, "run")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    calls = [
        store.load,
        store.summary,
        store.delete,
        store.snapshots,
        lambda i: store.rename(i, "x"),
        lambda i: store.tag(i, "x"),
        lambda i: store.add_snapshot(i, "x", 0, {}),
        store.writer,
    ]
    for call in calls:
        with pytest.raises(StoreError, match=r"^run: .* is not a run id"):
            call(bad_id)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_reading_a_home_with_no_database_finds_nothing_and_creates_nothing(tmp_path):
    store = RunStore(tmp_path / "home")
    assert store.list() == [] and store.ids() == [] and store.group("g") == []
    with pytest.raises(StoreError, match=r"no stored run 'x' in .*seqlab.db \(`seqlab runs` lists them\)"):
        store.load("x")
    assert not (tmp_path / "home").exists()


# -- every app run is recorded ----------------------------------------------------------------------------------
class _Probe(Observer):
    name = "probe"

    def snapshot(self):
        return {"gates": np.arange(6, dtype=np.float32).reshape(2, 3)}


def test_every_live_run_is_recorded_with_its_records_and_the_snapshots_its_page_draws(tmp_path):
    store = RunStore(tmp_path)
    reg = RunRegistry(max_running=2, store=store)
    cfg = RunConfig.from_flat({"model": "gru", "task": "parity", "steps": 12, "eval_every": 5, "hidden": 8})
    (run,) = reg.start_group([("GRU", cfg)], owner="me", observers=lambda: [_Probe()])
    run.join()
    shown = run.snapshot()
    kept = store.load(run.id)
    assert (kept["status"], kept["name"], kept["source"]) == ("completed", "GRU", "app")
    assert [r["loss"] for r in kept["history"]["train"]] == [r.loss for r in shown.train]
    assert [r["step"] for r in kept["history"]["eval"]] == [5, 10, 12]
    (snap,) = store.snapshots(run.id)
    assert (snap["name"], snap["step"]) == ("probe", 12)
    np.testing.assert_array_equal(snap["payload"]["gates"], [[0, 1, 2], [3, 4, 5]])


def test_a_live_run_that_raises_is_recorded_as_failed_with_its_error(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    cfg = RunConfig.from_flat({"model": "rnn", "task": "parity", "steps": 50, "hidden": 8})
    calls = []

    def step_then_fail(self, log=True, t0=None):
        calls.append(1)
        if len(calls) > 3:
            raise RuntimeError("out of memory")
        return real_step(self, log, t0)

    real_step = Trainer.step
    monkeypatch.setattr(Trainer, "step", step_then_fail)
    (run,) = RunRegistry(store=store).start_group([("RNN", cfg)], owner="me")
    run.join()
    kept = store.load(run.id)
    assert kept["status"] == "failed" and kept["result"]["error"] == "RuntimeError: out of memory"
    assert [r["step"] for r in kept["history"]["train"]] == [1, 2, 3]


def test_the_servers_registry_records_into_seqlab_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQLAB_HOME", str(tmp_path / "home"))
    reg = RunRegistry.for_server()
    assert reg.store.path == tmp_path / "home" / "seqlab.db" and reg.store.path.exists()
    monkeypatch.setenv("SEQLAB_HOME", str(tmp_path / "home" / "seqlab.db" / "x"))
    assert RunRegistry.for_server().store is None  # logged; the app still trains


def test_a_lock_held_past_the_timeout_delays_a_runs_records_instead_of_failing_the_run(tmp_path):
    now = [0.0]
    store = RunStore(tmp_path, busy_seconds=0.05)
    w = db.RunWriter(store, "run", clock=lambda: now[0])
    w.on_start(fake_trainer())
    holder = sqlite3.connect(tmp_path / "seqlab.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    now[0] = 1.0
    w.on_step(StepRecord(1, 1.0, 1.0, None, 1.0))  # cannot write: kept, no exception into the training loop
    holder.execute("ROLLBACK")
    holder.close()
    assert store.load("run")["history"]["train"] == []
    now[0] = 2.0
    w.on_step(StepRecord(2, 1.0, 1.0, None, 2.0))
    assert [r["step"] for r in store.load("run")["history"]["train"]] == [1, 2]


def test_a_diverged_loss_comes_back_as_nan_and_the_json_output_says_null(tmp_path, capsys, monkeypatch):
    from seqlab.cli import main

    store = RunStore(tmp_path)
    w = store.writer("run", flush_every=0.0)
    w.on_start(fake_trainer())
    w.on_step(StepRecord(1, float("nan"), float("inf"), [0.1, float("nan")], 0.1))
    (rec,) = store.load("run")["history"]["train"]
    assert np.isnan(rec["loss"]) and rec["grad_norm"] == float("inf") and np.isnan(rec["grad_by_time"][1])
    monkeypatch.setenv("SEQLAB_HOME", str(tmp_path))
    assert main(["runs", "--show", "run", "--json"]) == 0
    assert '"loss": null, "grad_norm": null, "grad_by_time": [0.1, null]' in capsys.readouterr().out
