import json
import subprocess
import sys

import pytest

from seqlab.cli import main
from seqlab.config import RunConfig
from seqlab.train import Trainer


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def last_json(out):
    return json.loads(out.strip().splitlines()[-1])


def test_list_json_names_models_tasks_options_and_compatibility(capsys):
    code, out, _ = run(capsys, "list", "--json")
    data = last_json(out)
    assert code == 0
    models = {m["name"]: m for m in data["models"]}
    tasks = {t["name"]: t for t in data["tasks"]}
    assert {"mlp", "rnn", "lstm", "gru"} <= set(models)
    assert {"adding", "copy", "parity", "recall", "reverse", "sort"} <= set(tasks)
    assert "delay" in tasks["copy"]["options"] and "vocab_size" in tasks["copy"]["options"]
    assert models["lstm"]["year"] == 1997 and "copy" in models["lstm"]["tasks"]


def test_train_json_contract(capsys, tmp_path):
    out_file = tmp_path / "run.json"
    code, out, err = run(
        capsys,
        "train",
        "--model",
        "gru",
        "--task",
        "copy",
        "--seq-len",
        "3",
        "--delay",
        "4",
        "--steps",
        "30",
        "--eval-every",
        "10",
        "--json",
        "--out",
        str(out_file),
    )
    assert code == 0
    d = last_json(out)
    for key in (
        "model",
        "task",
        "status",
        "steps",
        "seconds",
        "params",
        "final_loss",
        "baseline_loss",
        "metrics",
        "seconds_to_target",
        "grad_norm_by_time",
        "config",
    ):
        assert key in d, key
    assert d["model"] == "gru" and d["task"] == "copy" and d["status"] == "completed" and d["steps"] == 30
    assert set(d["metrics"]) == {"accuracy", "sequence_accuracy"}
    assert d["seconds_to_target"] is None
    assert len(d["grad_norm_by_time"]) == 2 * 3 + 4  # one per input time step
    assert d["config"]["task"]["options"] == {"vocab_size": 8, "delay": 4}  # defaults filled in
    assert d["config"]["train"]["lr"] == 0.005  # the recurrent default, filled in
    full = json.loads(out_file.read_text())
    assert len(full["history"]["train"]) == 30 and len(full["history"]["eval"]) == 3
    assert "step 30/30" in err or "100%" in err  # progress went to stderr


def test_train_until_reports_seconds_to_target(capsys, tmp_path):
    out_file = tmp_path / "run.json"
    code, out, _ = run(
        capsys,
        "train",
        "--model",
        "lstm",
        "--task",
        "parity",
        "--seq-len",
        "2",
        "--lr",
        "0.02",
        "--eval-every",
        "10",
        "--until",
        "accuracy=0.99",
        "--json",
        "--quiet",
        "--out",
        str(out_file),
    )
    d = last_json(out)
    evals = json.loads(out_file.read_text())["history"]["eval"]
    assert d["status"] == "target_reached" and evals[-1]["metrics"]["accuracy"] >= 0.99
    assert all(e["metrics"]["accuracy"] < 0.99 for e in evals[:-1])  # the first evaluation on target ended it …
    assert d["seconds_to_target"] == evals[-1]["elapsed"] and d["steps"] == evals[-1]["step"]  # … and timed it


BAD = [
    (["train", "--model", "lsmt", "--task", "copy"], "model.name", "did you mean 'lstm'"),
    (["train", "--model", "lstm", "--task", "cpy"], "task.name", "did you mean 'copy'"),
    (["train", "--model", "lstm", "--task", "copy", "--seq-len", "0"], "task.seq_len", ""),
    (["train", "--model", "lstm", "--task", "copy", "--seq-len", "10000000"], "task.seq_len", ""),
    (["train", "--model", "lstm", "--task", "copy", "--hidden", "-3"], "model.hidden", ""),
    (["train", "--model", "lstm", "--task", "copy", "--steps", "0"], "train.steps", ""),
    (["train", "--model", "lstm", "--task", "copy", "--steps", "100000000000"], "train.steps", ""),
    (["train", "--model", "lstm", "--task", "copy", "--hidden", "100000"], "model.hidden", ""),
    (["train", "--model", "lstm", "--task", "copy", "--batch-size", "0"], "train.batch_size", ""),
    (["train", "--model", "lstm", "--task", "copy", "--batch-size", "99999999"], "train.batch_size", ""),
    (["train", "--model", "lstm", "--task", "copy", "--lr", "0"], "train.lr", ""),
    (["train", "--model", "lstm", "--task", "copy", "--lr", "nan"], "train.lr", "finite"),
    (["train", "--model", "lstm", "--task", "copy", "--until", "accuracy>"], "train.until", "METRIC=VALUE"),
    (["train", "--model", "lstm", "--task", "copy", "--until", "mse=0.1"], "train.until", "cannot stop on 'mse'"),
    (["train", "--model", "lstm", "--task", "adding", "--delay", "3"], "delay", "not a setting"),
    (
        ["train", "--model", "lstm", "--task", "adding", "--seq-len", "50000", "--batch-size", "4096"],
        "train.max_memory_mb",
        "MB",
    ),
    (["train", "--model", "lstm", "--task", "copy", "--device", "tpu"], "train.device", ""),
    (["train", "--model", "lstm"], "", "--task"),
    (["train", "--model", "mlp", "--task", "parity", "--eval-seq-len", "20"], "eval_seq_len", "one block of weights"),
    (["sweep", "--model", "lstm", "--task", "copy", "--seeds", "a,b"], "seeds", "integers"),
]


@pytest.mark.parametrize(("argv", "field", "text"), BAD)
def test_bad_input_exits_2_with_one_line_naming_the_field(capsys, argv, field, text):
    code, out, err = run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqlab: error: ")
    assert field in lines[0] and text in lines[0]
    assert "Traceback" not in err


def test_module_entry_point_help_and_bad_input_without_traceback():
    ok = subprocess.run([sys.executable, "-m", "seqlab", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "train" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "seqlab", "train", "--model", "lstm", "--task", "copy", "--lr", "-1"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_incompatible_pair_is_exit_2(capsys, monkeypatch):
    from seqlab.models.mlp import MLP

    monkeypatch.setattr(MLP, "outputs", frozenset({"label"}))
    code, _, err = run(capsys, "train", "--model", "mlp", "--task", "copy")
    assert code == 2 and "cannot train on task 'copy'" in err


def test_sweep_reports_mean_and_spread_over_seeds(capsys):
    # in this process: the worker pool (two processes importing torch: 18 s of a loaded run) is test_sweep's
    argv = ["sweep", "--model", "rnn", "--task", "parity", "--steps", "5", "--seeds", "0,1", "--workers", "1"]
    code, out, _ = run(capsys, *argv, "--json")
    d = last_json(out)
    assert code == 0 and d["seeds"] == [0, 1] and len(d["runs"]) == 2
    losses = [r["final_loss"] for r in d["runs"]]
    assert d["stats"]["final_loss"]["mean"] == pytest.approx(sum(losses) / 2)


def test_bench_json_lists_bare_and_instrumented_times(capsys):
    code, out, _ = run(capsys, "bench", "--models", "rnn,lstm", "--rounds", "2", "--json")
    rows = last_json(out)
    assert [r["model"] for r in rows] == ["rnn", "lstm"]
    for r in rows:  # the contract only: speed targets live in the bench output, not in tests
        assert set(r) == {"model", "bare_ms", "instrumented_ms", "ratio"} and all(
            isinstance(r[k], float) for k in ("bare_ms", "instrumented_ms", "ratio")
        )


def test_recurrent_model_is_scored_at_another_length(capsys):
    code, out, _ = run(
        capsys,
        "train",
        "--model",
        "rnn",
        "--task",
        "parity",
        "--seq-len",
        "6",
        "--steps",
        "5",
        "--eval-seq-len",
        "30",
        "--json",
        "--quiet",
    )
    d = last_json(out)
    assert code == 0 and d["at_length"]["seq_len"] == 30
    trainer = Trainer(RunConfig.model_validate(d["config"]))  # the same run through the library
    trainer.run()
    loss, metrics = trainer.evaluate_at_length(30)
    assert d["at_length"]["metrics"] == metrics and d["at_length"]["loss"] == loss


def _interrupted(tmp_path, argv: list[str], when) -> subprocess.CompletedProcess:
    """``python -m seqlab ARGV`` sent Ctrl-C (SIGINT) once ``when(proc)`` returns."""
    import os
    import signal
    from pathlib import Path

    env = {**os.environ, "SEQLAB_HOME": str(tmp_path)}
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqlab", *argv], cwd=root, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE
    )
    when(proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out.decode(), err.decode())


def test_ctrl_c_in_a_command_without_a_stop_of_its_own_exits_130_without_a_traceback(tmp_path):
    argv = ["complexity", "--models", "lstm", "--lengths", "64,128,256,512,1024,2048", "--metrics", "time"]

    def measuring(proc):  # its first progress line: the command is past its imports, inside the work
        assert proc.stderr.readline()

    done = _interrupted(tmp_path, [*argv, "--fresh"], measuring)
    assert done.returncode == 130 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == "seqlab: interrupted"


def test_ctrl_c_while_seqlab_still_imports_exits_130_without_a_traceback():
    # Ctrl-C lands during `import torch` (seconds on a busy machine): raised there by an import hook, so the
    # test does not depend on when a signal would arrive
    code = (
        "import runpy, sys\n"
        "class CtrlC:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, CtrlC())\n"
        "sys.argv = ['seqlab', 'list']\n"
        "runpy.run_module('seqlab', run_name='__main__')\n"
    )
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 130 and done.stderr.strip() == "seqlab: interrupted", done.stderr
