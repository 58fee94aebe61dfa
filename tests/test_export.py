import io
import json
import struct
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from seqlab import export
from seqlab.config import RunConfig
from seqlab.train.live import RunRegistry
from seqlab.ui import charts, frames

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def snap():
    (run,) = RunRegistry().start_group(
        [
            (
                "rnn",
                RunConfig.from_flat(
                    {"model": "rnn", "task": "adding", "seq_len": 8, "hidden": 8, "steps": 40, "eval_every": 20}
                ),
            )
        ],
        owner="t",
    )
    run.join(60)
    return run.snapshot()


def test_records_csv_reads_back_to_the_very_values_recorded(snap):
    run = export.run_from_snapshot(snap)
    back = export.read_records_csv(export.records_csv([run]))
    train, ev = back[back["kind"] == "train"], back[back["kind"] == "eval"]
    assert len(train) == len(snap.train) == 40 and len(ev) == len(snap.eval) == 2
    assert list(train["step"]) == [r.step for r in snap.train]
    assert list(train["loss"]) == [r.loss for r in snap.train]  # exact, not approximately
    grads = train[[f"grad_t{t}" for t in range(1, 9)]].to_numpy()
    logged = [i for i, r in enumerate(snap.train) if r.grad_by_time is not None]
    assert logged and np.array_equal(grads[logged], np.array([snap.train[i].grad_by_time for i in logged]))
    assert list(ev["mse"]) == [r.metrics["mse"] for r in snap.eval]
    assert set(back["run"]) == {snap.id}


def test_run_json_carries_config_and_result(snap):
    data = json.loads(export.runs_json_text([export.run_from_snapshot(snap)]))
    (run,) = data["runs"]
    assert run["config"]["model"]["name"] == "rnn" and run["config"]["train"]["steps"] == 40
    assert run["result"]["steps"] == 40 and run["result"]["status"] == "completed"
    assert RunConfig.model_validate(run["config"]) == snap.config


def test_chart_renders_to_a_png_and_an_svg_of_the_export_width(snap):
    fig = charts.loss_chart(frames.loss_frame([snap]), ["rnn"], snap.baseline_loss, frames.eval_frame([snap]))
    png = export.to_png(fig.to_dict())
    assert png.startswith(PNG_MAGIC) and 10_000 < len(png) < 2_000_000
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert width == export.EXPORT_WIDTH * export.PNG_SCALE and 300 < height < 2000
    svg = export.to_svg(fig.to_dict())
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg") and float(root.get("width")) == export.EXPORT_WIDTH
    assert "training step" in svg and 5_000 < len(svg) < 2_000_000


def test_chart_csv_holds_every_dataset_the_chart_draws(snap):
    fig = charts.loss_chart(frames.loss_frame([snap]), ["rnn"], snap.baseline_loss, frames.eval_frame([snap]))
    back = pd.read_csv(io.StringIO(export.chart_csv(fig.data)))
    assert set(back["dataset"]) == {"train", "eval", "baseline"}
    train = back[back["dataset"] == "train"]
    assert list(train["smoothed"]) == list(fig.data["train"]["smoothed"])
    assert back.loc[back["dataset"] == "baseline", "y"].iloc[0] == snap.baseline_loss


def test_nothing_to_export_is_refused_naming_what_is_empty():
    with pytest.raises(export.ExportError, match=r"run: nothing to export: abc recorded no steps"):
        export.records_csv([{"id": "abc", "history": {"train": [], "eval": []}}])
    with pytest.raises(export.ExportError, match="no runs"):
        export.runs_json([])
    empty = charts.loss_chart(pd.DataFrame(columns=["run", "step", "loss", "smoothed"]), ["rnn"])
    with pytest.raises(export.ExportError, match="chart: the chart has no data"):
        export.chart_csv({k: v for k, v in empty.data.items() if k != "baseline"})


def test_stored_runs_draw_with_the_pages_chart_builders(snap):
    from seqlab.train.records import clean_json

    stored = json.loads(json.dumps(clean_json(export.run_from_snapshot(snap))))  # as a store gives it back
    (back,) = export.stored_snapshots([stored])
    assert back.label == "rnn" and back.train == snap.train and back.eval == snap.eval
    figs = charts.panel_figures([back], [back.label])
    assert list(figs["loss"].data["train"]["loss"]) == list(frames.loss_frame([snap])["loss"])


def test_stored_runs_of_one_model_are_labelled_by_seed_or_else_by_id():
    def run(i, model, seed):
        return {"id": i, "config": {"model": {"name": model}, "train": {"seed": seed}}}

    assert export.run_labels([run("a", "lstm", 0), run("b", "lstm", 1), run("c", "gru", 0)]) == [
        "lstm · seed 0",
        "lstm · seed 1",
        "gru",
    ]
    assert export.run_labels([run("a", "lstm", 0), run("b", "lstm", 0)]) == ["lstm a", "lstm b"]
