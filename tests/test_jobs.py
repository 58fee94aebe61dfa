"""The one job system: runs and background jobs share the registry's slots; runs are refused when it is
full, searches/experiments/measurements queue and say where they stand. Every wait here is on an event
the work sets, never on a clock."""

import threading

import pytest

from seqlab.config import RunConfig
from seqlab.jobs import Progress, waiting_text
from seqlab.train.live import CapacityError, RunRegistry


def cfg(**flat):
    return RunConfig.from_flat({"model": "rnn", "task": "parity", "hidden": 16, **flat})


def held(release: threading.Event, started: threading.Event | None = None, result="done"):
    """Work that runs until ``release`` is set (or Stop), then returns ``result``."""

    def work(job):
        job.on_stop(release.set)
        if started is not None:
            started.set()
        release.wait(30)
        return result

    return work


def test_a_run_and_a_search_fill_a_cap_of_two_then_a_run_is_refused_and_a_search_queues():
    reg = RunRegistry(max_running=2)
    (run,) = reg.start_group([("rnn", cfg(steps=10**6))], owner="a")
    release = threading.Event()
    search = reg.submit("search", "search", "a", held(release))
    assert reg.slots_taken() == 2 and search.status == "running"
    with pytest.raises(CapacityError, match="limit is 2"):
        reg.start_group([("more", cfg(steps=5))], owner="b")
    with pytest.raises(CapacityError, match="limit is 2"):
        reg.submit("run", "a run-kind job", "b", held(threading.Event()))
    second = reg.submit("experiment", "scaling", "b", held(threading.Event(), result=7))
    assert second.status == "queued" and reg.slots_taken() == 2
    assert reg.status_text(second) == "waiting: 2 jobs running — starts when one ends (1st in line)"
    reg.stop([run.id])
    run.join(10)
    # the run's thread admitted the queued job before it ended: the slot was never free in between
    assert second.status == "running" and reg.slots_taken() == 2
    reg.stop_job(second.id, "b")
    assert second.wait(10) and second.status == "stopped" and second.result == 7
    release.set()
    assert search.wait(10) and search.status == "completed" and search.result == "done"
    assert reg.slots_taken() == 0


def test_queue_positions_are_first_come_and_move_up_when_one_leaves():
    reg = RunRegistry(max_running=1)
    release = threading.Event()
    first = reg.submit("sweep", "first", "a", held(release))
    waiting = [reg.submit("measure", f"m{i}", "a", held(threading.Event())) for i in range(3)]
    texts = [reg.status_text(j) for j in waiting]
    assert texts == [waiting_text(1, 1), waiting_text(1, 2), waiting_text(1, 3)]
    assert texts[0] == "waiting: 1 job running — starts when one ends (1st in line)"
    reg.stop_job(waiting[0].id, "a")  # stopped while queued: it never starts
    assert waiting[0].ended and waiting[0].status == "stopped"
    assert reg.status_text(waiting[2]) == "waiting: 1 job running — starts when one ends (2nd in line)"
    release.set()
    assert first.wait(10) and waiting[1].status == "running" and waiting[2].status == "queued"
    for j in waiting[1:]:
        reg.stop_job(j.id, "a")
        assert j.wait(10)
    assert reg.slots_taken() == 0


def test_stop_of_one_owners_job_leaves_another_owners_job_running():
    reg = RunRegistry(max_running=4)
    a_release, b_release = threading.Event(), threading.Event()
    a = reg.submit("search", "a's search", "alice", held(a_release))
    b = reg.submit("search", "b's search", "bob", held(b_release))
    reg.stop_job(b.id, "alice")  # not hers: nothing happens
    reg.stop_job(a.id, "alice")
    assert a.wait(10) and a.status == "stopped"
    assert b.status == "running" and not b.stopping
    b_release.set()
    assert b.wait(10) and b.status == "completed"


def test_a_shared_measurement_stops_only_when_its_last_watcher_stops_it():
    reg = RunRegistry(max_running=2)
    release = threading.Event()
    key = ("quick", ("lstm",), (16, 32), 64)
    first = reg.submit("measure", "lstm", "alice", held(release), key=key)
    again = reg.submit("measure", "lstm", "bob", held(threading.Event()), key=key)
    assert again is first and first.watchers == {"alice", "bob"} and reg.slots_taken() == 1
    reg.stop_job(first.id, "alice")
    assert first.status == "running" and not first.stopping  # bob still waits for it
    reg.stop_job(first.id, "bob")
    assert first.wait(10) and first.status == "stopped"
    fresh = reg.submit("measure", "lstm", "alice", held(threading.Event(), result=1), key=key)
    assert fresh is not first  # a stopped measurement is made again, not handed back
    reg.stop_job(fresh.id, "alice")
    assert fresh.wait(10)


def test_a_failing_job_records_its_error_and_frees_its_slot():
    reg = RunRegistry(max_running=1)

    def boom(job):
        raise RuntimeError("disk on fire")

    job = reg.submit("sweep", "boom", "a", boom)
    assert job.wait(10)
    assert job.status == "failed" and job.error == "RuntimeError: disk on fire" and job.result is None
    assert reg.slots_taken() == 0
    # a failed shared job is not handed back: asking again measures again
    key = ("k",)
    failed = reg.submit("measure", "k", "a", boom, key=key)
    assert failed.wait(10) and failed.status == "failed"
    assert reg.submit("measure", "k", "a", lambda job: 3, key=key).wait(10)


def test_progress_advances_as_the_work_reports_it():
    reg = RunRegistry(max_running=1)
    steps = [threading.Event() for _ in range(3)]
    seen = [threading.Event() for _ in range(3)]

    def work(job):
        for i in range(3):
            job.report(i, 3, f"point {i}")
            seen[i].set()
            steps[i].wait(10)
        job.report(3, 3, "done")
        return "ok"

    job = reg.submit("sweep", "lstm", "a", work)
    got = []
    for i in range(3):
        seen[i].wait(10)
        got.append(job.progress())
        steps[i].set()
    assert job.wait(10)
    assert got == [Progress(0, 3, "point 0"), Progress(1, 3, "point 1"), Progress(2, 3, "point 2")]
    assert job.progress().fraction == 1.0 and reg.status_text(job) == "lstm: done (3 of 3)"


def test_a_run_and_a_real_search_share_the_cap():
    """The cap covers a real search too: with cap 1 a search waits for a run's slot, then trains."""
    from seqlab.search import Search, SearchConfig

    reg = RunRegistry(max_running=1)
    (run,) = reg.start_group([("rnn", cfg(steps=10**6))], owner="a")
    search = Search(
        SearchConfig.build(
            {"task": "parity", "space": {"families": ["gru"], "hidden": [8]}, "trials": 1, "min_steps": 5, "budget": 30}
        )
    )
    job = reg.submit("search", "search", "a", lambda job: search.run())
    assert job.status == "queued" and search.status == "pending"
    reg.stop([run.id])
    run.join(10)
    assert job.wait(60) and job.status == "completed" and job.result.status == "completed"


def test_measurements_run_one_at_a_time_and_leave_the_other_slots_to_runs():
    """A page opening asks for a measurement per model; they must not fill the slots its Train needs
    (seen as a refused 3-run comparison when two measurements held 2 of 4 slots)."""
    reg = RunRegistry(max_running=4)
    release = threading.Event()
    first = reg.submit("measure", "rnn", "a", held(release))
    second = reg.submit("measure", "lstm", "a", held(threading.Event()))
    assert first.status == "running" and second.status == "queued" and reg.slots_taken() == 1
    assert reg.status_text(second) == "waiting: another measurement is running — one at a time (1st in line)"
    other = reg.submit("search", "s", "a", held(threading.Event()))  # other kinds still use the free slots
    assert other.status == "running" and reg.slots_taken() == 2
    release.set()
    assert first.wait(10)
    assert second.status == "running" and reg.slots_taken() == 2
    for j in (second, other):
        reg.stop_job(j.id, "a")
        assert j.wait(10)
    assert reg.slots_taken() == 0


def test_ended_runs_and_jobs_beyond_the_keep_limit_are_forgotten_oldest_first():
    reg = RunRegistry(max_running=2, keep_ended=2)
    runs = []
    for seed in range(4):
        (run,) = reg.start_group([("rnn", cfg(steps=2, seed=seed))], owner="a")
        run.join(30)
        runs.append(run)
    jobs = [reg.submit("search", f"s{i}", "a", lambda job, i=i: i) for i in range(4)]
    for j in jobs:
        assert j.wait(10)
    reg.submit("search", "one more", "a", lambda job: None).wait(10)  # pruning happens at admission
    assert [r.id for r in reg.visible([r.id for r in runs])] == [r.id for r in runs[2:]]
    assert [reg.job(j.id) for j in jobs] == [None, None, jobs[2], jobs[3]]


def test_one_session_may_keep_only_three_jobs_waiting():
    reg = RunRegistry(max_running=1)
    release = threading.Event()
    reg.submit("search", "holds the slot", "b", held(release))
    waiting = [reg.submit("experiment", f"e{i}", "a", held(threading.Event())) for i in range(3)]
    assert [j.status for j in waiting] == ["queued"] * 3
    with pytest.raises(CapacityError, match="you already have 3 jobs waiting"):
        reg.submit("experiment", "a fourth", "a", held(threading.Event()))
    assert reg.submit("experiment", "another session's", "c", held(threading.Event())).status == "queued"
    for j in reg.jobs():
        reg.stop_job(j.id, j.owner)
    release.set()


def test_at_exit_running_jobs_are_stopped_and_a_queued_job_given_the_freed_slot_stops_too(monkeypatch):
    from seqlab import jobs

    # the exit flag set here must not outlive the test (what earlier tests left working is stopped too)
    monkeypatch.setattr(jobs, "_closing", threading.Event())
    reg = RunRegistry(max_running=1)
    started, ran_stopped = threading.Event(), []
    first = reg.submit("search", "first", "a", held(threading.Event(), started))
    assert started.wait(30)

    def second_work(job):
        ran_stopped.append(job.stopping)
        return "unused"

    second = reg.submit("search", "second", "a", second_work)
    assert second.status == "queued"
    assert jobs.stop_all_at_exit(timeout=30) == []
    assert (first.status, second.status, ran_stopped) == ("stopped", "stopped", [True])
    assert jobs._working == {}


def test_stopping_a_pages_complexity_measurement_ends_it_at_the_next_length_not_the_next_model(monkeypatch):
    from seqlab.complexity import quick
    from seqlab.ui import panels

    reg, measured = RunRegistry(max_running=2), []
    release, started = threading.Event(), threading.Event()

    def one_point(model, n, d, *sizes):  # the first point holds until Stop, as a slow measurement would
        measured.append((model, n))
        if len(measured) == 1:
            started.set()
            release.wait(30)
        return {"model": model, "n": n, "d": d, "ms": float(n), "activation_bytes": 8 * n, "params": 1}

    monkeypatch.setattr(quick, "measure", one_point)
    job = reg.submit("measure", "complexity", "a", panels._quick_work(["rnn", "lstm"], 16))
    job.on_stop(release.set)
    assert started.wait(30)
    job.stop()
    job.join(30)
    assert job.status == "stopped" and measured == [("rnn", 16)]
    # unstopped, the same work gives every model's every length, theory added
    measured.clear()
    release.set()
    done = reg.submit("measure", "complexity", "a", panels._quick_work(["rnn"], 16))
    done.join(30)
    assert [(r["model"], r["n"]) for r in done.result] == [("rnn", n) for n in panels.QUICK_LENGTHS]
    assert done.result[-1]["theory_ms"] == done.result[-1]["ms"]


def test_a_refusal_names_which_of_the_slots_holders_are_the_askers_own():
    reg = RunRegistry(max_running=2)
    (mine,) = reg.start_group([("lstm", cfg(steps=10**6))], owner="a")
    (theirs,) = reg.start_group([("gru", cfg(steps=10**6))], owner="b")
    try:
        with pytest.raises(CapacityError) as e:
            reg.start_group([("rnn", cfg(steps=5))], owner="a")
        assert "limit is 2" in str(e.value) and "1 of them yours (lstm: Stop on its page)" in str(e.value)
        with pytest.raises(CapacityError) as e:
            reg.start_group([("rnn", cfg(steps=5))], owner="c")  # nothing of c's holds a slot
        assert "yours" not in str(e.value)
    finally:
        for r in (mine, theirs):
            r.stop()
            r.join(30)
