"""A run whose loss blows up is flagged on its result, in the CLI summary and on the pages' status line."""

from types import SimpleNamespace

import pytest

from seqlab.cli import main
from seqlab.config import RunConfig
from seqlab.train.engine import train
from seqlab.train.records import BLOWUP_FACTOR, StepRecord, detect_blowup

SMALL = {"model": "lstm", "task": "adding", "seq_len": 20, "hidden": 16, "steps": 60, "eval_every": 30}


def _records(losses):
    return [StepRecord(i + 1, v, 1.0, None, 0.0) for i, v in enumerate(losses)]


def test_lr_10_blows_up_and_the_result_says_so_with_a_lower_rate():
    result = train(RunConfig.from_flat({**SMALL, "lr": 10}))
    b = result.blowup
    assert result.status == "completed" and b is not None
    assert b.peak > BLOWUP_FACTOR * b.reference and b.recent > b.reference
    assert b.suggested_lr == 5e-3  # the LSTM's recommended rate
    assert result.to_json()["blowup"]["step"] == b.step
    assert str(b).startswith(f"the loss blew up (peak {b.peak:.2g}".replace("e+0", "e"))


def test_a_run_at_the_recommended_rate_is_not_flagged():
    result = train(RunConfig.from_flat(SMALL))
    assert result.blowup is None and result.to_json()["blowup"] is None


def test_a_spike_the_run_recovers_from_is_not_a_blowup():
    # lr 0.1 on adding: 20 × the start at step 2, then far below the baseline
    assert detect_blowup(_records([1.0, 20.0, 0.4, *[0.05] * 40]), 0.17, 0.1, 5e-3) is None


def test_the_rule_reference_is_the_larger_of_start_and_baseline():
    losses = _records([0.01, 5.0, *[1.0] * 20])  # 500 × the start, but 5 × a baseline of 1
    assert detect_blowup(losses, 1.0, 1e-3, 5e-3) is None
    b = detect_blowup(losses, 0.1, 1e-3, 5e-3)
    assert (b.peak, b.step, b.reference, b.suggested_lr) == (5.0, 2, 0.1, pytest.approx(1e-4))


def test_cli_summary_prints_the_warning(capsys):
    assert main(["train", *(f"--{k.replace('_', '-')}={v}" for k, v in SMALL.items()), "--lr", "10", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "warning: the loss blew up (peak " in out and "try a lower learning rate, e.g. 0.005" in out


def test_pages_status_line_reads_the_flag_live_and_from_the_result():
    from seqlab.ui.panels import blowup_of

    cfg = RunConfig.from_flat({**SMALL, "lr": 10})
    running = SimpleNamespace(result=None, config=cfg, train=_records([1.0, 1e5, 300.0]), baseline_loss=0.17)
    assert str(blowup_of(running)) == "the loss blew up (peak 1e5 at step 2); try a lower learning rate, e.g. 0.005"
    done = SimpleNamespace(result=SimpleNamespace(blowup=None), config=cfg, train=running.train, baseline_loss=0.17)
    assert blowup_of(done) is None
