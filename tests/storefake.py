"""Runs made without training: folders in the retired folder store's layout (what ``runs import`` reads),
the damage a crash or an editor does to them, and finished runs written straight into a run database."""

import json
from pathlib import Path
from types import SimpleNamespace

from seqlab.config import RunConfig
from seqlab.train.records import EvalRecord, RunResult, StepRecord


def fake_run(root: Path, run_id: str, records: int = 3) -> Path:
    """A finished run folder with ``records`` training records."""
    folder = Path(root) / run_id
    folder.mkdir(parents=True)
    cfg = {"model": {"name": "rnn"}, "task": {"name": "parity"}, "train": {"steps": records}}
    (folder / "config.json").write_text(json.dumps(cfg))
    lines = [json.dumps({"kind": "train", "step": s, "loss": 1.0 / s}) for s in range(1, records + 1)]
    (folder / "records.jsonl").write_text("\n".join(lines) + "\n")
    result = {"model": "rnn", "status": "completed", "final_loss": 0.25, "config": cfg}
    (folder / "result.json").write_text(json.dumps(result))
    return folder


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def _bad_config(folder: Path) -> None:
    (folder / "config.json").write_text("{oops")
    (folder / "result.json").unlink()  # a crash before the end: no copy of the config to fall back on


DAMAGE = {
    "corrupt-result": lambda f: (f / "result.json").write_text('{"model": "rnn", "sta'),
    "empty-result": lambda f: (f / "result.json").write_text(""),
    "corrupt-config": _bad_config,
    "corrupt-config-with-result": lambda f: (f / "config.json").write_text("[]"),
    "records-cut": lambda f: _append(f / "records.jsonl", b'{"kind": "train", "st'),
    "records-garbage": lambda f: _append(f / "records.jsonl", b"\x00\xff garbage\n[1, 2]\n"),
}


def fake_trainer(flat: dict | None = None) -> SimpleNamespace:
    """What a writer's ``on_start`` reads from a trainer, without building a model."""
    return SimpleNamespace(config=RunConfig.from_flat({"model": "rnn", "task": "parity", **(flat or {})}), device="cpu")


def fake_db_run(store, run_id: str, records: int = 3, status: str = "completed", end: bool = True, **writer_args):
    """A run written through the store's writer as training would: ``records`` steps (loss 1/step, a
    3-step grad-by-time vector), an eval at the last one, and (with ``end``) a result."""
    trainer = fake_trainer(writer_args.pop("flat", None))
    w = store.writer(run_id, flush_every=writer_args.pop("flush_every", 0.0), **writer_args)
    w.on_start(trainer)
    for s in range(1, records + 1):
        w.on_step(StepRecord(s, 1.0 / s, 0.5, [0.1 * s, 0.2, 0.3], 0.01 * s))
    w.on_eval(EvalRecord(records, 0.5, {"accuracy": 0.75}, 0.01 * records))
    if end:
        cfg = trainer.config
        w.on_end(
            RunResult(
                model=cfg.model.name,
                task=cfg.task.name,
                status=status,
                steps=records,
                seconds=0.01 * records,
                params=10,
                final_loss=0.5,
                train_loss=1.0 / records,
                baseline_loss=0.69,
                baseline_metrics={"accuracy": 0.5},
                metrics={"accuracy": 0.75},
                seconds_to_target=None,
                grad_norm_by_time=[0.1, 0.2, 0.3],
                config=cfg.model_dump(),
            )
        )
    return w
