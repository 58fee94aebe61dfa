"""Run-store folders written by hand (the writer's layout), and the damage a crash or an editor does to them."""

import json
from pathlib import Path


def fake_run(root: Path, run_id: str, records: int = 3) -> Path:
    """A finished run with ``records`` training records, without training one."""
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
