import itertools
import os

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.trial import TrialState

from seqlab.cli import main
from seqlab.errors import ConfigError
from seqlab.search import (
    Search,
    SearchConfig,
    Trial,
    dominated,
    front_ranks,
    hypervolume,
    pareto,
    promote,
    storage_path,
)


def small(**kw):
    base = {
        "task": "reverse",
        "seq_len": 3,
        "task_options": {"vocab_size": 4},
        "trials": 4,
        "min_steps": 20,
        "budget": 24 * 3600,  # never the reason a search here ends, however slow the machine
        "space": {"families": ["lstm", "gpt", "ssm"], "hidden": [8, 16], "layers": [1], "heads": [2]},
    }
    return SearchConfig.build({**base, **kw})


@pytest.fixture(scope="module")
def searched():
    """One small search, read by the tests below (each would otherwise train the same seven times)."""
    import torch

    torch.set_num_threads(1)  # the per-test fixture that does this runs after a module-scoped one
    return Search(small()).run()


def test_search_halves_the_field_and_returns_a_valid_pareto_front(searched):
    out = searched
    rungs = [t.rung for t in out.trials]
    assert rungs.count(0) == 4 and rungs.count(1) == 2 and rungs.count(2) == 1  # 4 → 2 → 1
    assert len({t.label for t in out.trials if t.rung == 0}) == 4  # four distinct architectures
    latest = {}
    for t in out.trials:
        latest[t.label] = t
    for cost in ("params", "ms_per_step"):
        front = out.pareto_params if cost == "params" else out.pareto_time
        assert front
        for member in front:  # nobody beats a front member on both axes
            assert not any(dominated(member, other, cost) for other in latest.values() if other is not member)
        for t in latest.values():  # and everything off the front is beaten by someone
            if t not in front:
                assert any(dominated(t, o, cost) for o in latest.values())
    assert out.best.rung == 2 and out.best in latest.values()


def test_halving_prunes_architectures_at_the_first_rung_and_the_study_records_every_training(searched):
    out = searched
    by_label = {}
    for t in out.trials:
        by_label.setdefault(t.label, []).append(t.steps)
    pruned = [steps for steps in by_label.values() if len(steps) == 1]
    assert len(pruned) == 2 and all(steps == [20] for steps in pruned)  # stopped after min_steps
    assert sorted(by_label[out.best.label]) == [20, 40, 80]  # the survivor trained η× longer each rung
    study = optuna.load_study(study_name=out.study, storage=out.storage and _journal(out.storage))
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 7 and sorted(t.user_attrs["rung"] for t in done) == [0, 0, 0, 0, 1, 1, 2]
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE", "MINIMIZE"]


def _journal(path):
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return JournalStorage(JournalFileBackend(path))


def test_promotion_keeps_a_small_model_that_a_score_only_rule_would_drop():
    def t(name, score, params, ms):
        return Trial({}, name, 0, 10, score, score, params, ms, "completed")

    big, bigger, small_ = t("big", 0.80, 10_000, 2.0), t("bigger", 0.81, 20_000, 2.0), t("small", 0.60, 500, 1.0)
    dominated_ = t("dominated", 0.70, 30_000, 3.0)
    # the first front is big, bigger and small, by score within it; a score-only rule would keep dominated
    # (0.70) over small (0.60) as third
    assert [x.label for x in promote([big, bigger, small_, dominated_], 2)] == ["bigger", "big"]
    assert [x.label for x in promote([big, bigger, small_, dominated_], 3)] == ["bigger", "big", "small"]
    assert [x.label for x in promote([big, bigger, small_, dominated_], 4)][-1] == "dominated"


def test_promotion_prefers_the_better_score_to_the_cheaper_extreme_within_a_front():
    def t(name, score, params, ms):
        return Trial({}, name, 0, 10, score, score, params, ms, "completed")

    # one front: each is the cheapest on one cost or the best scorer; crowding distance would call all
    # three extremes alike, but training changes only the score, so the best scorers go on
    tiny, fast, good = t("tiny", 0.30, 100, 3.0), t("fast", 0.40, 5_000, 0.5), t("good", 0.90, 8_000, 2.0)
    assert [x.label for x in promote([tiny, fast, good], 2)] == ["good", "fast"]


def test_an_architecture_counts_at_its_most_steps_trained_not_at_a_rung_the_budget_cut_short():
    from seqlab.search import best_of, latest_per_architecture

    def t(name, rung, steps, score, status="completed"):
        return Trial({}, name, rung, steps, score, score, 1000, 1.0, status)

    full = t("a", 2, 80, 1.0)
    cut = t("a", 3, 50, 0.135, "time_budget")  # rung 3 was to train 160 steps; the budget ended it at 50
    other = t("b", 1, 40, 0.9)
    latest = latest_per_architecture([t("a", 0, 20, 0.5), other, full, cut])
    assert sorted((x.label, x.rung) for x in latest) == [("a", 2), ("b", 1)]
    assert best_of(latest) is full


def test_front_ranks_put_the_dominated_point_on_the_second_front():
    assert front_ranks([(-0.8, 10_000, 2.0), (-0.81, 20_000, 2.0), (-0.6, 500, 1.0), (-0.7, 30_000, 3.0)]) == [
        0,
        0,
        0,
        1,
    ]


def test_a_stopped_search_resumes_and_trains_only_what_is_missing():
    first = Search(small(study="resumable"))
    calls = []
    evaluate = first.evaluate

    def counted(*a, **kw):
        calls.append(a[2])  # the rung
        out = evaluate(*a, **kw)
        if len(calls) == 5:  # the first training of rung 1 is done: stop here
            first.stop()
        return out

    first.evaluate = counted
    assert first.run().status == "stopped" and calls == [0, 0, 0, 0, 1]
    orphan = first.study.ask()  # as if a process died mid-training: a trial left running
    again = Search(small(study="resumable", resume=True, trials=99))  # the study's settings win: trials=4
    assert again.config.trials == 4
    calls.clear()
    evaluate = again.evaluate
    again.evaluate = counted
    out = again.run()
    assert calls == [1, 2] and out.status == "completed"  # the other rung-1 architecture, then the final one
    rungs = sorted(t.rung for t in out.trials)
    assert rungs == [0, 0, 0, 0, 1, 1, 2]
    assert again.study.get_trials()[orphan.number].state == TrialState.FAIL


def test_resuming_needs_a_stored_study_and_a_new_search_a_new_name():
    Search(small(study="taken", trials=1, min_steps=2)).run()
    with pytest.raises(ConfigError, match=r"search\.study: a study 'taken' exists already"):
        Search(small(study="taken"))
    with pytest.raises(ConfigError, match=r"search\.study: no study 'missing' in .*studies\.journal \(stored: taken\)"):
        Search(small(study="missing", resume=True))
    with pytest.raises(ConfigError, match=r"search\.study: resuming needs the name"):
        small(resume=True)


def test_the_study_is_stored_beside_the_run_database():
    out = Search(small(trials=1, min_steps=2)).run()
    assert out.storage == str(storage_path(None)) and out.storage.startswith(os.environ["SEQLAB_HOME"])
    assert out.study in optuna.get_all_study_names(_journal(out.storage))


def test_an_unwritable_study_dir_names_the_setting(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"search\.study_dir: cannot write the studies journal .*Not a directory"):
        Search(small(study_dir=str(tmp_path / "file" / "studies")))


def test_brackets_go_on_with_new_architectures_until_the_space_is_spent():
    out = Search(small(brackets=0, min_steps=5)).run()  # the space holds 6 architectures
    first = [t for t in out.trials if t.rung == 0]
    assert len({t.label for t in first}) == len(first) == 6  # none trained twice at a rung
    assert [sum(t.bracket == b for t in first) for b in (0, 1)] == [4, 2]
    assert sorted((t.bracket, t.rung) for t in out.trials if t.rung > 0) == [(0, 1), (0, 1), (0, 2), (1, 1)]


def _same_as_in_process(out, study: str) -> None:
    """Each stored trial's numbers are what this process trains for its architecture and rung (one torch
    thread, the same seed), so a worker trains what the parent asked; cost and score both."""
    here = Search(small(study=study))
    for t in out.trials:
        again = here.evaluate(t.arch, t.steps, t.rung, 3600)
        assert (again.metric, again.params) == (t.metric, t.params), t.label


def test_a_search_on_the_process_pool_records_every_trial_with_the_numbers_trained_in_process(tmp_path):
    from seqlab.experiments.base import no_observers
    from seqlab.store import RunStore, recorded

    store = RunStore(tmp_path / "runs")
    search = Search(small(workers=2), observers=recorded(no_observers, store, group_id="g", tag="search", source="t"))
    out = search.run()
    rungs = [t.rung for t in out.trials]
    assert rungs.count(0) == 4 and rungs.count(1) == 2 and rungs.count(2) == 1
    assert all(t.status == "completed" and 0 < t.ms_per_step < 1000 for t in out.trials)
    # the parent replayed each worker's run into the store: one completed run per trial, same held-out numbers
    runs = store.group("g")
    assert sorted(r["metrics"]["accuracy"] for r in runs) == sorted(t.metric for t in out.trials)
    assert {r["status"] for r in runs} == {"completed"}
    _same_as_in_process(out, "pool-check")


def test_stop_reaches_trainings_in_the_pool_workers():
    import threading
    import time

    search = Search(small(workers=2, min_steps=1_000_000))  # no training here ends on its own

    def stop_once_both_run():
        while len(search._remote) < 2:
            time.sleep(0.05)
        search.stop()

    threading.Thread(target=stop_once_both_run, daemon=True).start()
    out = search.run()
    assert out.status == "stopped"
    # both trainings ended early as stopped and were told, so a resume knows what they reached
    assert len(out.trials) == 2 and all(t.status == "stopped" and t.steps < 1_000_000 for t in out.trials)


def test_a_search_on_ray_takes_the_clusters_cpus_and_records_every_trial(local_ray):
    search = Search(small(backend="ray", trials=2))
    out = search.run()
    assert search.workers == 2 and [t.rung for t in out.trials] == [0, 0, 1]
    assert local_ray.is_initialized()  # joined, not started, here: left running for its owner
    _same_as_in_process(out, "ray-check")


points = st.lists(st.tuples(st.floats(0, 1, allow_nan=False), st.integers(1, 10**6)), min_size=1, max_size=25)


@settings(max_examples=200, deadline=None)
@given(points)
def test_no_point_on_the_front_is_dominated_and_every_other_point_is(pts):
    trials = [{"score": s, "params": p} for s, p in pts]
    front = pareto(trials, "params")
    assert front
    for f in front:
        assert not any(dominated(f, o, "params") for o in trials)
    for t in trials:
        if not any(t is f for f in front):
            assert any(dominated(t, f, "params") for f in front)
    # the first rank of the non-dominated sorting is the same front
    ranks = front_ranks([(-t["score"], t["params"]) for t in trials])
    assert [r == 0 for r in ranks] == [any(t is f for f in front) for t in trials]


@settings(max_examples=200, deadline=None)
@given(points)
def test_hypervolume_equals_optunas_reference(pts):
    from optuna._hypervolume import compute_hypervolume

    ref = (-0.1, 2e6)
    mine = hypervolume([(s, float(p)) for s, p in pts], ref)
    theirs = compute_hypervolume(np.array([(-s, p) for s, p in pts], dtype=float), np.array([0.1, 2e6]))
    assert mine == pytest.approx(theirs, rel=1e-9)


def test_hypervolume_of_a_handmade_front():
    # two points: (score 0.5, cost 1) and (score 1.0, cost 3), reference (0, 4): 0.5·2 + 1.0·1
    assert hypervolume([(0.5, 1.0), (1.0, 3.0), (0.4, 2.0)], (0.0, 4.0)) == pytest.approx(2.0)


def test_pareto_of_a_handmade_set():
    a = {"score": 0.9, "params": 100}
    b = {"score": 0.8, "params": 50}
    c = {"score": 0.7, "params": 80}  # worse than b on both
    assert pareto([a, b, c], "params") == [a, b]


def test_the_budget_cuts_the_training_under_way_and_ends_the_search():
    ticks = itertools.count()  # a fake clock: one "second" per reading, so the budget runs out mid-way through trial 1
    out = Search(small(trials=6, min_steps=10_000, budget=60), clock=lambda: next(ticks)).run()
    (trial,) = out.trials  # the other five never start
    assert trial.status == "time_budget" and 0 < trial.steps < 60  # a step reads the clock at least once
    assert out.status == "completed" and out.seconds >= 60


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"budget": 0}, "search.budget"),
        ({"space": {"families": []}}, "search.space.families"),
        ({"space": {"hidden": []}}, "search.space.hidden"),
        ({"space": {"families": ["lstmm"]}}, "search.space.families: unknown model 'lstmm'"),
        ({"trials": 0}, "search.trials"),
        ({"study": "../etc"}, "search.study: a study name is letters"),
        ({"study": "a/b"}, "search.study"),
        ({"workers": 0}, "search.workers"),
    ],
)
def test_bad_search_settings_name_the_field(kw, field):
    with pytest.raises(ConfigError) as e:
        small(**kw)
    assert field in str(e.value)


def test_search_cli_json_and_bad_budget(capsys):
    import json

    assert (
        main(
            [
                "search",
                "--task",
                "parity",
                "--seq-len",
                "3",
                "--families",
                "gru,gpt",
                "--hidden",
                "8",
                "--layers",
                "1",
                "--heads",
                "2",
                "--trials",
                "2",
                "--min-steps",
                "10",
                "--study",
                "cli-study",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["best"] and out["pareto_params"] and out["metric"] == "accuracy"
    assert [t["rung"] for t in out["trials"]] == [0, 0, 1] and out["study"] == "cli-study"
    # resuming a finished study trains nothing and reports the same trials
    assert main(["search", "--study", "cli-study", "--resume", "--json"]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["trials"] == out["trials"] and again["status"] == "completed"
    assert main(["search", "--budget", "-1"]) == 2
    assert "search.budget" in capsys.readouterr().err


def test_trainings_total_counts_every_rung():
    from seqlab.search import trainings_total

    assert trainings_total(small(trials=8)) == 8 + 4 + 2 + 1
    assert trainings_total(small(trials=5, eta=3)) == 5 + 1


def test_bench_search_runs_the_searches_on_their_schedules_and_scores_them_on_one_reference():
    from seqlab.bench import bench_search

    space = {"families": ["gru", "gpt"], "hidden": [8, 16], "layers": [1], "heads": [2]}  # 4 architectures
    small_bench = {"task": "parity", "seq_len": 3, "trials": 2, "min_steps": 5, "budget": 600, "space": space}
    out = bench_search(seeds=(0, 1), config=small_bench, workers=1)
    rows = {r["search"]: r for r in out["rows"] if r["seed"] == 0}
    assert rows["optuna"]["trainings"] == rows["random+SH"]["trainings"] == 3  # one bracket: 2 → 1
    assert rows["optuna, whole budget"]["trainings"] == 6  # two brackets, then no architecture is left
    assert rows["optuna, whole budget"]["architectures"] == 4
    for r in rows.values():
        # the reference lies 5 % beyond the union's worst point on each axis, so every front has some area
        assert r["hv_params"] > 0 and r["hv_time"] > 0
    both = {(r["seed"], r["search"]): r["hv_params"] for r in out["rows"]}
    diffs = [both[(s, "optuna")] - both[(s, "random+SH")] for s in (0, 1)]
    assert out["paired"]["optuna"]["hv_params"]["mean"] == pytest.approx(sum(diffs) / 2)
    assert out["paired"]["optuna"]["hv_params"]["wins"] == sum(d >= 0 for d in diffs)
    assert out["summary"]["optuna"]["hv_params"]["std"] == pytest.approx(
        np.std([both[(s, "optuna")] for s in (0, 1)], ddof=1)
    )
