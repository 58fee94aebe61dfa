"""``seqlab export`` on runs recorded by ``seqlab train --save``, in-process."""

import io
import json

import numpy as np
import pandas as pd
import pytest

from seqlab.cli import main
from seqlab.export import read_records_csv
from seqlab.store import RunStore

TINY = ["--model", "rnn", "--task", "adding", "--seq-len", "6", "--hidden", "8", "--steps", "30", "--eval-every", "10"]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Two runs trained once for the module: (their SEQLAB_HOME, their ids)."""
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("SEQLAB_HOME", str(home))
    for seed in (0, 1):
        assert main(["train", *TINY, "--seed", str(seed), "--save", "--quiet", "--json"]) == 0
    yield home, sorted(RunStore().ids())
    mp.undo()


@pytest.fixture
def stored(recorded, monkeypatch):
    home, ids = recorded
    monkeypatch.setenv("SEQLAB_HOME", str(home))  # each test's own home (conftest) would hold no runs
    return ids


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_records_csv_from_the_cli_equals_the_stored_records(stored, capsys, monkeypatch):
    capsys.readouterr()
    assert main(["export", *stored, "--format", "csv"]) == 0
    back = read_records_csv(capsys.readouterr().out)
    for run_id in stored:
        train = RunStore().load(run_id)["history"]["train"]
        mine = back[(back["run"] == run_id) & (back["kind"] == "train")]
        assert list(mine["loss"]) == [r["loss"] for r in train] and len(train) == 30
        assert list(mine["grad_t6"].dropna()) == [r["grad_by_time"][5] for r in train if r["grad_by_time"]]


def test_a_seed_group_exports_its_band_as_png_and_as_the_charts_data(stored, capsys, tmp_path):
    assert main(["export", *stored, "--format", "png", "--out", str(tmp_path), "--json"]) == 0
    out = last_json(capsys)
    png = (tmp_path / out["out"].rsplit("/", 1)[-1]).read_bytes()
    assert out["chart"] == "loss" and png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) == out["bytes"] > 10_000
    assert main(["export", *stored, "--format", "csv", "--chart", "metric"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    band = table[table["dataset"] == "band"]
    mse = [[r["metrics"]["mse"] for r in RunStore().load(i)["history"]["eval"]] for i in stored]
    assert list(band["x"]) == [10, 20, 30] and (band["n"] == 2).all()
    assert np.allclose(band["mean"], np.mean(mse, axis=0)) and np.allclose(band["std"], np.std(mse, axis=0, ddof=1))


def test_json_export_holds_each_runs_config_and_result(stored, capsys):
    assert main(["export", stored[0], "--format", "json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)["runs"]
    assert run["id"] == stored[0] and run["config"]["train"]["seed"] in (0, 1)
    assert run["result"]["steps"] == 30


def test_a_heatmap_of_two_models_is_refused_in_one_line(stored, capsys, monkeypatch):
    assert main(["train", *TINY[2:], "--model", "gru", "--save", "--quiet"]) == 0
    gru = next(i for i in RunStore().ids() if i not in stored)
    capsys.readouterr()
    assert main(["export", stored[0], gru, "--format", "svg", "--chart", "grad-heatmap"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "grad-heatmap draws one run" in err and "2 heatmaps" in err
