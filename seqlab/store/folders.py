"""``seqlab runs import DIR``: the run folders the retired folder store wrote, brought into the database.

A folder store held one folder per run:

    <run_id>/config.json     the full RunConfig
    <run_id>/records.jsonl   one JSON object per train/eval record
    <run_id>/result.json     the final RunResult (absent after a crash)
    <run_id>/meta.json       group and tag (optional)

Folders are read tolerantly: a damaged file costs only what is in it, and each loss is reported as a
sentence in ``problems`` (``run <id>: …``). A run without a result is imported as ``interrupted``; a
run with neither a readable config nor a result copy of it is skipped; an id already in the database is
skipped (importing twice changes nothing).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from .db import RUN_ID, StoreError

if TYPE_CHECKING:
    from .db import RunStore


def _read_json(folder: Path, name: str) -> tuple[dict | None, str | None]:
    """(object, None), (None, None) when the file is absent, or (None, why it cannot be read)."""
    path = folder / name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as e:
        return None, f"{name} unreadable ({e.strerror})"
    if not raw.strip():
        return None, f"{name} is empty (cut mid-write?)"
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as e:
        return None, f"{name} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
    except ValueError:  # bytes that are not UTF-8
        return None, f"{name} is not UTF-8 text"
    if not isinstance(obj, dict):
        return None, f"{name} holds a JSON {type(obj).__name__}, not an object"
    return obj, None


def _config_shape(cfg: dict) -> str | None:
    for part in ("model", "task"):
        if not isinstance(cfg.get(part), dict) or not isinstance(cfg[part].get("name"), str):
            return f"config.json has no {part} name"
    return None


def _read_records(path: Path) -> tuple[list[dict], str | None]:
    """Every readable record, and one sentence on the lines that were not (None if all were)."""
    records: list[dict] = []
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return records, None
    except OSError as e:
        return records, f"records.jsonl unreadable ({e.strerror}) — no history"
    lines = raw.split(b"\n")
    bad = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if rec["kind"] not in ("train", "eval") or not isinstance(rec["step"], int):
                raise ValueError
            records.append(rec)
        except (ValueError, KeyError, TypeError):
            bad.append(number)
    if not bad:
        return records, None
    # a crash mid-write leaves exactly one partial last line (the file does not end in a newline)
    cut = bad == [len(lines)] and not raw.endswith(b"\n")
    if len(bad) == 1:
        return records, f"records.jsonl line {bad[0]} unreadable{' (cut mid-write?)' if cut else ''} — skipped"
    shown = ", ".join(map(str, bad[:5])) + (", …" if len(bad) > 5 else "")
    return records, f"records.jsonl: {len(bad)} lines unreadable (lines {shown}) — skipped"


def _is_run(folder: Path) -> bool:
    return (folder / "config.json").is_file() or (folder / "result.json").is_file()


def read_folder(folder: Path) -> tuple[dict | None, list[str]]:
    """A run folder as the row the database stores (None when nothing usable is in it), and what was lost."""
    problems = []
    config, why = _read_json(folder, "config.json")
    why = why or (_config_shape(config) if config is not None else None)
    if why:
        config = None
        problems.append(why)
    result, why_result = _read_json(folder, "result.json")
    if result is not None and not isinstance(result.get("status"), str):
        result, why_result = None, "result.json has no status"
    if why_result:
        problems.append(why_result + (" — imported as interrupted" if config is not None else ""))
    if config is None and result is not None and isinstance(result.get("config"), dict):
        config = result["config"]
        if _config_shape(config) is not None:
            config = None
        elif why:
            problems[0] += " — using the copy in result.json"
    records, why_records = _read_records(folder / "records.jsonl")
    if why_records:
        problems.append(why_records)
    if config is None:
        return None, problems
    meta, _ = _read_json(folder, "meta.json")
    meta = meta or {}
    result = result or None
    created = (folder / ("config.json" if (folder / "config.json").exists() else "result.json")).stat().st_mtime
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    return {
        "config": config,
        "result": result,
        "records": records,
        "status": result["status"] if result else "interrupted",
        "group_id": meta.get("group_id") if isinstance(meta.get("group_id"), str) else None,
        "tag": meta.get("tag") if isinstance(meta.get("tag"), str) else None,
        "seed": train.get("seed") if isinstance(train.get("seed"), int) else None,
        "created": created,
        "folder": str(folder.resolve()),
    }, problems


def import_folder(store: RunStore, folder: Path) -> dict:
    """Import every run folder in ``folder`` (or ``folder`` itself when it is one run's folder)."""
    if not folder.is_dir():
        raise StoreError(f"{str(folder)!r} is not a folder of runs", "dir")
    try:
        entries = [folder] if _is_run(folder) else sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError as e:
        raise StoreError(f"{str(folder)!r} cannot be read ({e.strerror})", "dir") from None
    known = set(store.ids())
    imported, skipped, problems = [], [], []
    con = store._shared(create=True)
    for entry in entries:
        run_id = entry.name
        if not RUN_ID.match(run_id) or not _is_run(entry):
            continue
        if run_id in known:
            skipped.append({"id": run_id, "reason": "already in the database"})
            continue
        row, lost = read_folder(entry)
        problems += [f"run {run_id}: {p}" for p in lost]
        if row is None:
            skipped.append({"id": run_id, "reason": "nothing readable (" + "; ".join(lost) + ")"})
            continue
        _insert(store, con, run_id, row)
        imported.append(run_id)
    return {"imported": imported, "skipped": skipped, "problems": problems}


def _insert(store: RunStore, con, run_id: str, row: dict) -> None:
    result, records = row["result"], row["records"]
    steps = result.get("steps") if result else None
    if not isinstance(steps, int):
        steps = max((r["step"] for r in records), default=0)
    with store._write(con):
        con.execute(
            "INSERT INTO runs (id, model, task, status, group_id, seed, source, created, updated, steps, seconds,"
            " final_loss, metrics, config, result, env, pid, host) VALUES"
            " (?, ?, ?, ?, ?, ?, 'import', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                row["config"]["model"]["name"],
                row["config"]["task"]["name"],
                row["status"],
                row["group_id"],
                row["seed"],
                row["created"],
                row["created"],
                steps,
                result.get("seconds") if result else None,
                result.get("final_loss") if result else None,
                json.dumps(result.get("metrics") or {} if result else {}),
                json.dumps(row["config"]),
                json.dumps(result) if result else None,
                json.dumps({"imported_from": row["folder"]}),
                os.getpid(),
                socket.gethostname(),
            ),
        )
        con.executemany(
            "INSERT INTO records VALUES (?, ?, ?, ?)", [(run_id, r["kind"], r["step"], json.dumps(r)) for r in records]
        )
        if row["tag"]:
            con.execute("INSERT OR IGNORE INTO tags VALUES (?, ?)", (run_id, row["tag"]))
