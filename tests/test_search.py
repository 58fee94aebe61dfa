import itertools

import pytest

from seqlab.cli import main
from seqlab.errors import ConfigError
from seqlab.search import Search, SearchConfig, dominated, pareto


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


def test_search_halves_the_field_and_returns_a_valid_pareto_front():
    out = Search(small()).run()
    rungs = [t["rung"] for t in out["trials"]]
    assert rungs.count(0) == 4 and rungs.count(1) == 2 and rungs.count(2) == 1  # 4 → 2 → 1
    latest = {}
    for t in out["trials"]:
        latest[t["label"]] = t
    for cost in ("params", "ms_per_step"):
        front = out[f"pareto_{cost.split('_')[0] if cost == 'params' else 'time'}"]
        assert front
        for member in front:  # nobody beats a front member on both axes
            assert not any(dominated(member, other, cost) for other in latest.values() if other is not member)
        for t in latest.values():  # and everything off the front is beaten by someone
            if t not in front:
                assert any(dominated(t, o, cost) for o in latest.values())
    assert out["best"]["rung"] == 2 and out["best"] in latest.values()


def test_pareto_of_a_handmade_set():
    a = {"score": 0.9, "params": 100}
    b = {"score": 0.8, "params": 50}
    c = {"score": 0.7, "params": 80}  # worse than b on both
    assert pareto([a, b, c], "params") == [a, b]


def test_the_budget_cuts_the_training_under_way_and_ends_the_search():
    ticks = itertools.count()  # a fake clock: one "second" per reading, so the budget runs out mid-way through trial 1
    out = Search(small(trials=6, min_steps=10_000, budget=60), clock=lambda: next(ticks)).run()
    (trial,) = out["trials"]  # the other five never start
    assert trial["status"] == "time_budget" and 0 < trial["steps"] < 60  # a step reads the clock at least once
    assert out["status"] == "completed" and out["seconds"] >= 60


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"budget": 0}, "search.budget"),
        ({"space": {"families": []}}, "search.space.families"),
        ({"space": {"hidden": []}}, "search.space.hidden"),
        ({"space": {"families": ["lstmm"]}}, "search.space.families: unknown model 'lstmm'"),
        ({"trials": 0}, "search.trials"),
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
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["best"] and out["pareto_params"] and out["metric"] == "accuracy"
    assert main(["search", "--budget", "-1"]) == 2
    assert "search.budget" in capsys.readouterr().err


def test_trainings_total_counts_every_rung():
    from seqlab.search import trainings_total

    assert trainings_total(small(trials=8)) == 8 + 4 + 2 + 1
    assert trainings_total(small(trials=5, eta=3)) == 5 + 1
