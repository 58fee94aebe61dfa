"""Grid sweeps (seqlab.sweep): the plan refuses bad grids before training, skips pairs that cannot
train, resumes, records failures, and runs the same points on the pool, in-process and on Ray."""

import json
import threading
import time
from pathlib import Path

import pytest

from seqlab.errors import ConfigError
from seqlab.store import RunStore
from seqlab.sweep import MAX_POINTS, Sweep, SweepError, parse_grid, parse_seeds, plan_sweep, probe_ray

TINY = {"task": "parity", "seq_len": 6, "hidden": 8, "steps": 12, "eval_every": 6, "eval_size": 32, "batch_size": 8}


def test_grid_and_seeds_parse_to_named_value_lists():
    assert parse_grid(["model=rnn,lstm", "seq_len=10, 25"]) == {"model": ["rnn", "lstm"], "seq_len": ["10", "25"]}
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0-1,7") == [0, 1, 7]


def test_plan_is_every_combination_times_every_seed_with_typed_settings():
    plan = plan_sweep(TINY, {"model": ["rnn", "gru"], "hidden": ["4", "8", "16"]}, [0, 1])
    assert len(plan.points) == 2 * 3 * 2
    assert plan.points[0].settings == {"model": "rnn", "hidden": 4, "seed": 0}
    assert len({p.key for p in plan.points}) == 12  # every point its own run


@pytest.mark.parametrize(
    ("grid", "field", "text"),
    [
        ({"hiden": ["8"]}, "hiden", "did you mean 'hidden'"),
        ({"seq_len": []}, "seq_len", "has no values"),
        ({"seq_len": ["10", "ten"]}, "task.seq_len", "whole number"),
        ({"lr": ["-1"]}, "train.lr", "> 0"),
    ],
)
def test_bad_grid_is_refused_naming_the_field(grid, field, text):
    with pytest.raises(ConfigError) as e:
        plan_sweep(TINY, grid, [0])
    assert e.value.field == field and text in str(e.value)


def test_grid_over_ten_thousand_points_is_refused_with_its_size_before_anything_is_built():
    grid = {"hidden": [str(i) for i in range(1, 101)], "steps": [str(i) for i in range(1, 101)]}
    with pytest.raises(ConfigError) as e:
        plan_sweep(TINY, grid, [0, 1])
    assert e.value.field == "grid" and "20,000 points (100 hidden × 100 steps × 2 seeds)" in str(e.value)
    assert MAX_POINTS == 10_000


def test_model_task_pairs_that_cannot_train_are_skipped_with_a_note():
    plan = plan_sweep({**TINY, "seq_len": 4}, {"model": ["lstm", "transformer"], "task": ["seq-sort", "parity"]}, [0])
    pairs = {(p.flat["model"], p.flat["task"]) for p in plan.points}
    assert pairs == {("lstm", "parity"), ("transformer", "seq-sort")}
    assert any(n.startswith("skipped model=lstm task=seq-sort: LSTM cannot produce 'sequence'") for n in plan.skipped)


def test_sweep_id_depends_on_grid_and_base_only():
    a = plan_sweep(TINY, {"model": ["rnn", "gru"]}, [0])
    assert plan_sweep(dict(TINY), {"model": ["rnn", "gru"]}, [0]).sweep_id == a.sweep_id
    assert plan_sweep({**TINY, "steps": 13}, {"model": ["rnn", "gru"]}, [0]).sweep_id != a.sweep_id


def _counting_runner(calls):
    from seqlab.sweep import run_point

    def runner(job, stop=None):
        calls.append(job.index)
        return run_point(job, stop)

    return runner


def test_running_the_same_sweep_again_skips_the_finished_points(tmp_path):
    plan = plan_sweep(TINY, {"model": ["rnn", "gru"]}, [0, 1])
    store, calls = RunStore(tmp_path), []
    first = Sweep(plan, workers=1, store=store, runner=_counting_runner(calls)).run()
    assert first.counts() == {"completed": 4} and len(calls) == 4
    again = Sweep(plan, workers=1, store=store, runner=_counting_runner(calls)).run()
    assert len(calls) == 4 and again.to_json()["resumed"] == 4  # nothing trained the second time
    losses = lambda r: [p["final_loss"] for p in r.to_json()["points"]]  # noqa: E731
    assert losses(again) == losses(first)
    assert sorted(store.ids()) == sorted(p.run_id for p in first.results)


def test_a_point_that_raises_is_recorded_failed_and_the_rest_finish(tmp_path, monkeypatch):
    from seqlab.train.engine import Trainer

    real_run = Trainer.run

    def run(self):
        if self.config.train.seed == 1:
            raise RuntimeError("boom at seed 1")
        return real_run(self)

    monkeypatch.setattr(Trainer, "run", run)
    store = RunStore(tmp_path)
    out = Sweep(plan_sweep(TINY, {}, [0, 1, 2]), workers=1, store=store).run().to_json()
    status = {p["settings"]["seed"]: p["status"] for p in out["points"]}
    assert status == {0: "completed", 1: "failed", 2: "completed"}
    failed = next(p for p in out["points"] if p["status"] == "failed")
    assert failed["error"] == "RuntimeError: boom at seed 1"
    assert store.summary(failed["run_id"])["status"] == "failed"  # recorded in the store
    assert out["cells"][0]["finished"] == 2  # the stats leave the failed seed out


def test_a_worker_killed_mid_sweep_fails_its_point_and_the_rest_finish_on_a_new_pool(tmp_path):
    from sweep_helpers import killed_on_seed_1

    store = RunStore(tmp_path)
    plan = plan_sweep(TINY, {}, [0, 1, 2, 3])
    out = Sweep(plan, workers=2, store=store, runner=killed_on_seed_1).run().to_json()
    status = {p["settings"]["seed"]: p["status"] for p in out["points"]}
    assert status == {0: "completed", 1: "failed", 2: "completed", 3: "completed"}
    assert "worker process died" in next(p["error"] for p in out["points"] if p["status"] == "failed")
    # the survivors trained exactly as they do alone: same numbers as an in-process run
    alone = Sweep(plan_sweep(TINY, {}, [0, 2, 3]), workers=1, store=RunStore(tmp_path / "b")).run().to_json()
    assert [p["final_loss"] for p in alone["points"]] == [
        p["final_loss"] for p in out["points"] if p["status"] == "completed"
    ]


def test_stop_ends_running_points_as_stopped_and_starts_no_more(tmp_path):
    store = RunStore(tmp_path)
    plan = plan_sweep({**TINY, "steps": 1_000_000, "eval_every": 1000}, {"model": ["rnn", "gru"]}, [0, 1])
    sweep = Sweep(plan, workers=2, store=store)
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("out", sweep.run()))
    t.start()
    deadline = time.monotonic() + 120
    while len(_training(store)) < 2 and time.monotonic() < deadline:  # both workers are training
        time.sleep(0.2)
    sweep.stop()
    t.join(60)
    out = box["out"].to_json()
    assert out["stopped"] and out["counts"] == {"stopped": 2}
    assert all(0 < p["steps"] < 1_000_000 for p in out["points"])
    assert {store.summary(p["run_id"])["status"] for p in out["points"]} == {"stopped"}


@pytest.fixture
def indrnn_plugin():
    from seqlab import plugins

    example = Path(__file__).resolve().parents[1] / "examples" / "indrnn.py"
    assert plugins.load(example) == ("indrnn",)
    yield
    plugins.forget(example)


def _same_points(a: dict, b: dict) -> bool:
    return [(p["settings"], p["final_loss"]) for p in a["points"]] == [
        (p["settings"], p["final_loss"]) for p in b["points"]
    ]


def test_a_plugin_model_trains_in_pool_workers_with_the_numbers_it_has_in_process(tmp_path, indrnn_plugin):
    plan = plan_sweep(TINY, {"model": ["indrnn", "rnn"]}, [0, 1])
    pool = Sweep(plan, workers=2, store=RunStore(tmp_path / "pool")).run().to_json()
    here = Sweep(plan, workers=1, store=RunStore(tmp_path / "here")).run().to_json()
    assert pool["counts"] == {"completed": 4} and here["counts"] == {"completed": 4}
    assert _same_points(pool, here)


def _training(store):
    return [s for s in store.list(status="running") if s["steps"]]  # records reach the store once a second


def test_a_ray_address_that_refuses_or_stays_silent_is_refused_within_ten_seconds():
    import socket

    with pytest.raises(SweepError, match="Connection refused"):
        probe_ray("127.0.0.1:1")
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers: a hung or foreign host
        t = time.monotonic()
        with pytest.raises(SweepError) as e:
            probe_ray(f"127.0.0.1:{silent.getsockname()[1]}", timeout=1.0)
        assert time.monotonic() - t < 10
    assert e.value.field == "address" and "no answer within 1 s" in str(e.value)


def test_ray_backend_gives_the_same_points_and_numbers_as_the_local_run(tmp_path, local_ray):
    plan = plan_sweep(TINY, {"model": ["rnn", "gru"]}, [0, 1])
    on_ray = Sweep(plan, backend="ray", store=RunStore(tmp_path / "ray")).run().to_json()
    here = Sweep(plan, workers=1, store=RunStore(tmp_path / "here")).run().to_json()
    assert on_ray["counts"] == {"completed": 4} and on_ray["backend"] == "ray"
    assert set(on_ray) == set(here)
    assert [(p["settings"], p["final_loss"]) for p in on_ray["points"]] == [
        (p["settings"], p["final_loss"]) for p in here["points"]
    ]
    assert [c["stats"] for c in on_ray["cells"]] == [c["stats"] for c in here["cells"]]
    # gathered into this process's run store, history included (a cluster's workers cannot reach our disk)
    assert len(RunStore(tmp_path / "ray").ids()) == 4
    gathered = RunStore(tmp_path / "ray").load(on_ray["points"][0]["run_id"])
    local = RunStore(tmp_path / "here").load(here["points"][0]["run_id"])
    assert gathered["result"]["status"] == "completed" and len(gathered["history"]["eval"]) == 2
    assert [e["loss"] for e in gathered["history"]["eval"]] == [e["loss"] for e in local["history"]["eval"]]


def test_a_plugin_model_trains_on_ray_workers_with_the_numbers_it_has_in_process(tmp_path, local_ray, indrnn_plugin):
    plan = plan_sweep(TINY, {"model": ["indrnn"]}, [0, 1])
    on_ray = Sweep(plan, backend="ray", store=RunStore(tmp_path / "ray")).run().to_json()
    here = Sweep(plan, workers=1, store=RunStore(tmp_path / "here")).run().to_json()
    assert on_ray["counts"] == {"completed": 2}
    assert _same_points(on_ray, here)


def test_a_ray_sweep_says_nothing_of_rays_log_level_on_stderr(local_ray):
    # a CLI of its own, joining this module's Ray: the env var seqlab set itself (RAY_BACKEND_LOG_LEVEL) made
    # the driver's Ray print "Set ray log level from environment variable ..." on every ray.init
    import subprocess
    import sys

    address = local_ray.get_runtime_context().gcs_address
    tiny = ["--task", "parity", "--seq-len", "6", "--hidden", "8", "--steps", "12", "--seeds", "0-1"]
    argv = ["sweep", "--backend", "ray", "--address", address, *tiny, "--quiet", "--json"]
    child = subprocess.run(
        [sys.executable, "-m", "seqlab", *argv], capture_output=True, text=True, cwd=Path(__file__).parent.parent
    )
    assert child.returncode == 0 and child.stderr == "", child.stderr[-2000:]
    assert json.loads(child.stdout.strip().splitlines()[-1])["counts"] == {"completed": 2}


def test_cli_grid_sweep_json_has_a_cell_per_setting_with_seed_stats(capsys):
    from seqlab.cli import main

    argv = ["sweep", "--task", "parity", "--seq-len", "6", "--hidden", "8", "--steps", "12", "--eval-every", "6"]
    code = main([*argv, "--grid", "model=rnn,gru", "--seeds", "0-1", "--workers", "1", "--json"])
    captured = capsys.readouterr()
    out = json.loads(captured.out.strip().splitlines()[-1])
    assert (
        code == 0
        and out["total"] == 4
        and [c["settings"] for c in out["cells"]]
        == [
            {"model": "rnn"},
            {"model": "gru"},
        ]
    )
    losses = [p["final_loss"] for p in out["points"] if p["settings"]["model"] == "rnn"]
    assert out["cells"][0]["stats"]["final_loss"]["mean"] == pytest.approx(sum(losses) / 2)
    assert "[4/4] model=gru seed=1: completed" in captured.err  # progress on stderr


# trainings that outlast any test: the signal always finds them running (or not yet started)
_SWEEP = ["sweep", "--model", "lstm", "--task", "parity", "--seq-len", "5", "--hidden", "8", "--steps", "1000000"]
_SWEEP += ["--seeds", "0-3", "--workers", "2", "--quiet", "--json"]
_SEARCH = ["search", "--task", "parity", "--seq-len", "5", "--families", "lstm,gru", "--hidden", "8", "--layers", "1"]
_SEARCH += ["--trials", "2", "--min-steps", "1000000", "--workers", "2", "--json"]


@pytest.mark.parametrize(
    ("argv", "sig", "whole_group"),
    [(_SWEEP, "SIGINT", True), (_SWEEP, "SIGTERM", False), (_SEARCH, "SIGINT", True)],
    ids=["sweep-ctrl-c", "sweep-kill", "search-ctrl-c"],
)
def test_ctrl_c_or_kill_mid_pool_stops_cleanly_with_no_traceback_or_leaked_semaphores(argv, sig, whole_group):
    # before: Ctrl-C reached the workers too, whose KeyboardInterrupt came back as a traceback (exit -2); kill
    # ended the parent at once, leaving its workers training and 12 semaphores reported leaked
    import signal

    from sweep_helpers import interrupt_cli

    code, out, err = interrupt_cli(argv, getattr(signal, sig), whole_group)
    assert "leaked" not in err and "Traceback" not in err, err[-3000:]
    assert code == 0
    summary = json.loads(out.strip().splitlines()[-1])
    if argv[0] == "sweep":  # the points begun (at least the one this process trains while the pool starts)
        assert summary["stopped"] is True and list(summary["counts"]) == ["stopped"]
    else:  # both trials, started on the workers, ended early and were told (a resume knows them)
        assert summary["status"] == "stopped" and [t["status"] for t in summary["trials"]] == ["stopped"] * 2


def test_a_pool_left_by_an_exception_stops_its_trainings_instead_of_waiting_for_them():
    # a KeyboardInterrupt in a program without the CLI's handler: the pool's shutdown used to wait for each
    # running training to finish (a minute here, 115 s for a stopped search's trials)
    from sweep_helpers import waits_for_stop

    from seqlab.sweep import worker_context, worker_pool

    ctx = worker_context()
    stop, started = ctx.Event(), ctx.SimpleQueue()
    with pytest.raises(KeyboardInterrupt), worker_pool(ctx, 1, stop, started) as pool:
        running = pool.submit(waits_for_stop)
        started.get()
        raise KeyboardInterrupt
    assert running.result() is True
