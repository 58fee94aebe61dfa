"""The run database: one SQLite file, ``$SEQLAB_HOME/seqlab.db`` (see ``seqlab.store`` for the API)."""

from __future__ import annotations

import base64
import difflib
import json
import logging
import os
import platform
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SeqlabError
from ..home import home
from ..train.observers import Observer
from ..train.records import EvalRecord, RunResult, StepRecord, clean_json

DB_NAME = "seqlab.db"
SCHEMA = 1  # the newest schema this code reads and writes; MIGRATIONS[v] takes a database from v-1 to v
BUSY_SECONDS = 5.0  # how long to wait for another process's write before calling the database locked
FLUSH_SECONDS = 1.0  # a crash loses at most this much of a run's records
log = logging.getLogger(__name__)

MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL DEFAULT '',
            model TEXT NOT NULL,
            task TEXT NOT NULL,
            status TEXT NOT NULL,       -- running, interrupted, or the engine's final status
            group_id TEXT,              -- a seed group or a sweep
            seed INTEGER,
            source TEXT NOT NULL,       -- who recorded it: cli, app, import, ...
            created REAL NOT NULL,      -- unix seconds
            updated REAL NOT NULL,      -- the last write: an interrupted run ended about then
            steps INTEGER NOT NULL DEFAULT 0,
            seconds REAL,
            final_loss REAL,
            metrics TEXT NOT NULL DEFAULT '{}',
            config TEXT NOT NULL,
            result TEXT,                -- RunResult JSON without history, once the run ended
            env TEXT NOT NULL DEFAULT '{}',
            pid INTEGER,                -- the writing process, to find runs a dead process left running
            host TEXT
        )""",
        "CREATE INDEX runs_created ON runs(created)",
        "CREATE INDEX runs_group ON runs(group_id)",
        "CREATE INDEX runs_status ON runs(status)",
        "CREATE TABLE tags (run_id TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (run_id, tag))",
        "CREATE TABLE records (run_id TEXT NOT NULL, kind TEXT NOT NULL, step INTEGER NOT NULL, data TEXT NOT NULL)",
        "CREATE INDEX records_run ON records(run_id, kind, step)",
        """CREATE TABLE snapshots (
            run_id TEXT NOT NULL, name TEXT NOT NULL, step INTEGER NOT NULL, payload BLOB NOT NULL,
            PRIMARY KEY (run_id, name, step)
        )""",
    ],
}
RUN_TABLES = ("records", "snapshots", "tags", "runs")  # children first

SORTS = ("created", "name", "model", "task", "status", "steps", "seconds", "final_loss")


class StoreError(SeqlabError):
    """The run database cannot be used as asked: a bad or unknown run id, or a database that cannot be
    opened, read or written (corrupt, locked, from a newer seqlab, a home that is not writable)."""


# what new_run_id makes, loosened to any single path component: no separators, no leading dot (so no '..')
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        raise StoreError(
            f"{run_id!r} is not a run id: ids are names of runs in the run store, such as "
            "20250101-120000-lstm-adding-1a2b3c (`seqlab runs` lists them)",
            "run",
        )
    return run_id


def new_run_id(model: str, task: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{model}-{task}-{uuid.uuid4().hex[:6]}"


# -- payloads: JSON, numpy arrays as base64 of their bytes, zlib on top (attention maps are most of it) --------
def _encode_default(obj):
    if isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        return {"__ndarray__": base64.b64encode(a.tobytes()).decode(), "dtype": a.dtype.str, "shape": a.shape}
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"a snapshot cannot hold a {type(obj).__name__}")


def _decode_hook(d: dict):
    if "__ndarray__" in d:
        return np.frombuffer(base64.b64decode(d["__ndarray__"]), dtype=d["dtype"]).reshape(d["shape"]).copy()
    return d


def encode_payload(payload) -> bytes:
    return zlib.compress(json.dumps(payload, default=_encode_default).encode(), 1)


def decode_payload(blob: bytes):
    return json.loads(zlib.decompress(blob), object_hook=_decode_hook)


# -- where a run ran ------------------------------------------------------------------------------------------
_commit: list[str | None] = []


def _git_commit() -> str | None:
    """The checkout's commit when seqlab runs from one (once per process; None for an installed copy)."""
    if not _commit:
        try:
            out = subprocess.run(
                ["git", "rev-parse", "HEAD"],
                cwd=Path(__file__).parent,
                capture_output=True,
                text=True,
                timeout=5,
            )
            _commit.append(out.stdout.strip() or None if out.returncode == 0 else None)
        except (OSError, subprocess.SubprocessError):
            _commit.append(None)
    return _commit[0]


def environment(device: str | None = None) -> dict:
    import torch

    from .. import __version__

    return {
        "seqlab": __version__,
        "commit": _git_commit(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": device,
        "threads": torch.get_num_threads(),
        "host": socket.gethostname(),
    }


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started (Linux: /proc/<pid>/stat field 22), so a pid the system has since given
    to another process is not taken for the run's writer; None where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # fields after the command name start at field 3


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class _PerThread(threading.local):
    con: sqlite3.Connection | None = None


class RunWriter(Observer):
    """Records one run as it trains (an engine observer): a ``running`` row at the start, records in batches
    at most ``flush_every`` seconds apart, the result at the end. ``close(status, error)`` ends a run whose
    trainer raised (``on_end`` is then never called)."""

    def __init__(
        self,
        store: RunStore,
        run_id: str,
        *,
        group_id: str | None = None,
        tag: str | None = None,
        name: str = "",
        source: str = "cli",
        flush_every: float = FLUSH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store, self.run_id = store, check_run_id(run_id)
        self.group_id, self.tag, self.name, self.source = group_id, tag, name, source
        self.flush_every, self.clock = flush_every, clock
        self._pending: list[StepRecord | EvalRecord] = []
        self._steps = 0
        self._con: sqlite3.Connection | None = None

    def on_start(self, trainer) -> None:
        config = trainer.config
        now = time.time()
        self._con = self.store._shared(create=True)
        with self.store._write(self._con):
            self._con.execute(
                "INSERT INTO runs (id, name, model, task, status, group_id, seed, source, created, updated, config,"
                " env, pid, host) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.run_id,
                    self.name,
                    config.model.name,
                    config.task.name,
                    self.group_id,
                    config.train.seed,
                    self.source,
                    now,
                    now,
                    json.dumps(config.model_dump()),
                    json.dumps({**environment(str(trainer.device)), "process_start": _process_start(os.getpid())}),
                    os.getpid(),
                    socket.gethostname(),
                ),
            )
            if self.tag:
                self._con.execute("INSERT INTO tags VALUES (?, ?)", (self.run_id, self.tag))
        self._last_flush = self.clock()

    def _add(self, record: StepRecord | EvalRecord) -> None:
        self._pending.append(record)
        self._steps = record.step
        if self.clock() - self._last_flush >= self.flush_every:
            try:
                self.flush()
            except StoreError as e:  # e.g. locked for longer than the busy timeout: keep them, retry next time
                log.warning("run %s: %d records wait for the next write (%s)", self.run_id, len(self._pending), e)
                self._last_flush = self.clock()

    on_step = _add
    on_eval = _add

    def flush(self, **columns) -> None:
        """Write the pending records (and ``columns`` of the run's row) in one transaction."""
        if self._con is None:
            return
        # NaN and inf stay as JSON's NaN/Infinity extension (Python reads them back): a diverged loss is NaN,
        # and skipping clean_json halves a flush's cost
        rows = [(self.run_id, r.kind, r.step, json.dumps(vars(r))) for r in self._pending]
        sets = ", ".join(f"{k} = ?" for k in ("steps", "updated", *columns))
        with self.store._write(self._con):
            self._con.executemany("INSERT INTO records VALUES (?, ?, ?, ?)", rows)
            self._con.execute(
                f"UPDATE runs SET {sets} WHERE id = ?", (self._steps, time.time(), *columns.values(), self.run_id)
            )
        self._pending.clear()
        self._last_flush = self.clock()

    def on_end(self, result: RunResult) -> None:
        self._steps = result.steps
        self.flush(
            status=result.status,
            seconds=result.seconds,
            final_loss=clean_json(result.final_loss),
            metrics=json.dumps(clean_json(result.metrics)),
            result=json.dumps(result.to_json()),
        )
        self._close()

    def close(self, status: str, error: str | None = None) -> None:
        """End a run the engine did not end (its trainer raised): keep what was recorded, mark it ``status``."""
        if self._con is not None:
            self.flush(status=status, result=json.dumps({"status": status, "error": error}))
            self._close()

    def add_snapshot(self, name: str, step: int, payload) -> None:
        self.store.add_snapshot(self.run_id, name, step, payload)

    def _close(self) -> None:
        self._con = None  # the store's connection for this thread: kept open for its next use


class RunStore:
    """The run database at ``root`` (a folder holding ``seqlab.db``, or the ``.db`` file itself; default
    ``$SEQLAB_HOME``). Nothing is opened until needed; each thread gets its own connection, kept open (see
    ``_shared``), so one store serves every thread. Reading a database that does not exist yet finds no runs
    and creates nothing."""

    def __init__(self, root: Path | str | None = None, busy_seconds: float = BUSY_SECONDS):
        root = Path(root) if root is not None else home()
        self.path = root if root.suffix == ".db" else root / DB_NAME
        self.root = self.path.parent
        self.busy_seconds = busy_seconds
        self._ready = False
        self._lock = threading.Lock()
        self._local = _PerThread()

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"

    # -- opening -----------------------------------------------------------------------------------------------
    def _home_error(self, what: str) -> StoreError:
        return StoreError(
            f"the run store {str(self.root)!r} {what}; set SEQLAB_HOME to a folder you can write "
            "(it is created when missing)",
            "SEQLAB_HOME",
        )

    def _db_error(self, e: sqlite3.Error) -> StoreError:
        text = str(e)
        if "locked" in text or "busy" in text:
            return StoreError(
                f"the run database {str(self.path)!r} is locked by another process (waited {self.busy_seconds:g} s); "
                "try again when it has finished writing",
                "SEQLAB_HOME",
            )
        if isinstance(e, sqlite3.IntegrityError) and "runs.id" in text:
            return StoreError("a run with this id is already stored; give each run a new id (new_run_id)", "run")
        if isinstance(e, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text):
            return StoreError(
                f"the run database {str(self.path)!r} is damaged ({text}); move it aside to start a new one "
                "(nothing in it was changed)",
                "SEQLAB_HOME",
            )
        return StoreError(f"the run database {str(self.path)!r} cannot be used ({text})", "SEQLAB_HOME")

    def ensure_writable(self) -> None:
        """Create the home and the database now, so a bad one is refused before training, not after."""
        self.ensure_dir()
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise self._home_error("is not writable")
        self._shared(create=True)

    def _connect(self, create: bool = False) -> sqlite3.Connection | None:
        """A connection to a database of the current schema (migrated if older), or None when there is no
        database and ``create`` is false. The first connection of a store also marks runs left ``running``
        by a dead process as ``interrupted``."""
        if not self.path.exists():
            if not create:
                if self.root.exists() and not self.root.is_dir():
                    raise self._home_error("is a file, not a folder")
                return None
            self.ensure_dir()
        elif self.path.is_dir():
            raise StoreError(f"{str(self.path)!r} is a folder, not a run database", "SEQLAB_HOME")
        try:
            con = sqlite3.connect(self.path, timeout=self.busy_seconds, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            raise self._db_error(e) from None
        try:
            with self._lock:
                if not self._ready:
                    self._prepare(con)
                    self._ready = True
            con.execute("PRAGMA synchronous = NORMAL")  # in WAL mode a commit survives a killed process
        except sqlite3.Error as e:
            con.close()
            raise self._db_error(e) from None
        except BaseException:
            con.close()
            raise
        return con

    def ensure_dir(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise self._home_error("is a file, not a folder")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise self._home_error(f"cannot be created ({e.strerror})") from None

    def schema_version(self, con: sqlite3.Connection) -> int:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "schema_version" not in tables:
            if tables:
                raise StoreError(
                    f"{str(self.path)!r} is an SQLite database but not seqlab's (no schema_version table); "
                    "move it aside or set SEQLAB_HOME elsewhere",
                    "SEQLAB_HOME",
                )
            return 0
        row = con.execute("SELECT max(version) FROM schema_version").fetchone()
        return row[0] or 0

    def _prepare(self, con: sqlite3.Connection) -> None:
        """Refuse a newer schema before writing anything; migrate an older one step by step in one
        transaction (a second process waits, then finds it done); then find runs a dead process left."""
        version = self.schema_version(con)
        if version > SCHEMA:
            raise StoreError(
                f"the run database {str(self.path)!r} has schema version {version}, newer than this seqlab reads "
                f"({SCHEMA}); upgrade seqlab, or set SEQLAB_HOME elsewhere (the database was not changed)",
                "SEQLAB_HOME",
            )
        if version < SCHEMA:
            con.execute("BEGIN IMMEDIATE")
            try:
                version = self.schema_version(con)  # another process may have migrated while we waited
                if version == 0:
                    con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, migrated REAL NOT NULL)")
                for v in range(version + 1, SCHEMA + 1):
                    for statement in MIGRATIONS[v]:
                        con.execute(statement)
                    con.execute("INSERT INTO schema_version VALUES (?, ?)", (v, time.time()))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            con.execute("PRAGMA journal_mode = WAL")  # persistent: readers never block the writer
        self._mark_interrupted(con)

    def _mark_interrupted(self, con: sqlite3.Connection) -> None:
        host = socket.gethostname()
        rows = con.execute("SELECT id, pid, env FROM runs WHERE status = 'running' AND host = ?", (host,)).fetchall()
        dead = []
        for run_id, pid, env in rows:
            started = json.loads(env).get("process_start")
            if pid is None or not _alive(pid) or (started is not None and _process_start(pid) not in (None, started)):
                dead.append((run_id,))
        if dead:
            with self._write(con):
                con.executemany("UPDATE runs SET status = 'interrupted' WHERE id = ? AND status = 'running'", dead)

    class _Tx:
        def __init__(self, store: RunStore, con: sqlite3.Connection):
            self.store, self.con = store, con

        def __enter__(self):
            try:
                self.con.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise self.store._db_error(e) from None
            return self.con

        def __exit__(self, kind, value, tb):
            if kind is None:
                try:
                    self.con.execute("COMMIT")
                    return False
                except sqlite3.Error as e:
                    self.con.execute("ROLLBACK")
                    raise self.store._db_error(e) from None
            self.con.execute("ROLLBACK")
            if isinstance(value, sqlite3.Error):
                raise self.store._db_error(value) from None
            return False

    def _write(self, con: sqlite3.Connection) -> RunStore._Tx:
        return RunStore._Tx(self, con)

    def _shared(self, create: bool = False) -> sqlite3.Connection | None:
        """This thread's connection, kept open: closing the last connection checkpoints the WAL and the next
        commit syncs a fresh one (~16 ms + ~4 ms each time here), which a page listing runs would pay per call."""
        con = self._local.con
        if con is None:
            con = self._local.con = self._connect(create)
        return con

    def close(self) -> None:
        """Close this thread's connection (the last one to close folds the WAL into the database file)."""
        con = self._local.con
        if con is not None:
            self._local.con = None
            con.close()

    def _query(self, sql: str, params=()) -> list[tuple]:
        con = self._shared()
        if con is None:
            return []
        try:
            return con.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise self._db_error(e) from None

    def _change(self, run_id: str, statements: list[tuple[str, tuple]]) -> None:
        self._known(run_id)
        con = self._shared(create=True)
        with self._write(con):
            for sql, params in statements:
                con.execute(sql, params)

    # -- writing -----------------------------------------------------------------------------------------------
    def writer(
        self,
        run_id: str,
        *,
        group_id: str | None = None,
        tag: str | None = None,
        name: str = "",
        source: str = "cli",
        flush_every: float = FLUSH_SECONDS,
    ) -> RunWriter:
        return RunWriter(self, run_id, group_id=group_id, tag=tag, name=name, source=source, flush_every=flush_every)

    def add_snapshot(self, run_id: str, name: str, step: int, payload: Any) -> None:
        """Keep what a page draws (``payload``: JSON-able values and numpy arrays) under ``name`` at ``step``."""
        blob = encode_payload(payload)
        self._change(run_id, [("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?)", (run_id, name, step, blob))])

    def rename(self, run_id: str, name: str) -> None:
        self._change(run_id, [("UPDATE runs SET name = ? WHERE id = ?", (name, run_id))])

    def tag(self, run_id: str, tag: str) -> None:
        if not tag.strip():
            raise StoreError("a tag needs at least one character that is not a space", "tag")
        self._change(run_id, [("INSERT OR IGNORE INTO tags VALUES (?, ?)", (run_id, tag.strip()))])

    def untag(self, run_id: str, tag: str) -> None:
        self._change(run_id, [("DELETE FROM tags WHERE run_id = ? AND tag = ?", (run_id, tag))])

    def delete(self, run_id: str) -> None:
        """The run and everything recorded for it; a run still training is refused (its writer would go on)."""
        if self.summary(run_id)["status"] == "running":
            raise StoreError(f"{run_id!r} is still running; stop it (or wait for it to end) first", "run")
        self._change(
            run_id, [(f"DELETE FROM {t} WHERE {'id' if t == 'runs' else 'run_id'} = ?", (run_id,)) for t in RUN_TABLES]
        )

    def import_folder(self, folder: Path | str) -> dict:
        from .folders import import_folder

        return import_folder(self, Path(folder))

    # -- reading -----------------------------------------------------------------------------------------------
    def ids(self) -> list[str]:
        return [r[0] for r in self._query("SELECT id FROM runs ORDER BY id")]

    def _known(self, run_id: str) -> None:
        check_run_id(run_id)
        if not self._query("SELECT 1 FROM runs WHERE id = ?", (run_id,)):
            near = difflib.get_close_matches(run_id, self.ids(), n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]!r}?" if near else " (`seqlab runs` lists them)"
            raise StoreError(f"no stored run {run_id!r} in {self.path}{hint}", "run")

    _COLUMNS = (
        "id, name, model, task, status, group_id, seed, source, created, updated, steps, seconds, final_loss, "
        "metrics, config"
    )

    def _summaries(self, where: str = "", params=(), order: str = "created DESC, id", limit: int | None = None):
        sql = f"SELECT {self._COLUMNS} FROM runs {where} ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = self._query(sql, params)
        tags: dict[str, list[str]] = {}
        if rows:
            for run_id, tag in self._query("SELECT run_id, tag FROM tags ORDER BY tag"):
                tags.setdefault(run_id, []).append(tag)
        names = self._COLUMNS.split(", ")
        out = []
        for row in rows:
            d = dict(zip(names, row, strict=True))
            d["metrics"] = json.loads(d["metrics"])
            d["config"] = json.loads(d["config"])
            d["tags"] = tags.get(d["id"], [])
            out.append(d)
        return out

    def list(
        self,
        *,
        model: str | None = None,
        task: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        group: str | None = None,
        sort: str = "-created",
        limit: int | None = None,
    ) -> list[dict]:
        """Summaries of the runs that match every filter given, sorted by ``sort`` (a column of ``SORTS``;
        a leading ``-`` for descending), at most ``limit`` of them."""
        key = sort.removeprefix("-")
        if key not in SORTS:
            near = difflib.get_close_matches(key, SORTS, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f" (one of: {', '.join(SORTS)})"
            raise StoreError(f"cannot sort by {key!r}{hint}", "sort")
        if limit is not None and limit < 1:
            raise StoreError(f"must be at least 1, got {limit}", "limit")
        clauses, params = [], []
        for column, value in (("model", model), ("task", task), ("status", status), ("group_id", group)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if tag is not None:
            clauses.append("id IN (SELECT run_id FROM tags WHERE tag = ?)")
            params.append(tag)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        nulls = f"{key} IS NULL, "  # runs without the value go last either way
        order = f"{nulls}{key} {'DESC' if sort.startswith('-') else 'ASC'}, id"
        return self._summaries(where, params, order, limit)

    def summary(self, run_id: str) -> dict:
        """One line's worth of a run: id, name, model, task, status, group_id, tags, seed, source, created,
        updated, steps, seconds, final_loss, metrics, config."""
        self._known(run_id)
        return self._summaries("WHERE id = ?", (run_id,))[0]

    def group(self, group_id: str) -> list[dict]:
        """The summaries of a group's runs, oldest first."""
        return self._summaries("WHERE group_id = ?", (group_id,), "created, id")

    def load(self, run_id: str) -> dict:
        """Everything recorded for a run except its snapshots: the summary's keys plus ``history``
        ({"train": [...], "eval": [...]} record dicts in step order), ``result`` (the RunResult JSON, None
        while running or when interrupted), ``env`` and ``problems`` (records that could not be read)."""
        run = self.summary(run_id)
        (result, env), *_ = self._query("SELECT result, env FROM runs WHERE id = ?", (run_id,))
        history: dict[str, list] = {"train": [], "eval": []}
        bad = 0
        for kind, data in self._query("SELECT kind, data FROM records WHERE run_id = ? ORDER BY rowid", (run_id,)):
            try:
                history[kind].append(json.loads(data))
            except (ValueError, KeyError):
                bad += 1
        problems = [f"run {run_id}: {bad} record(s) unreadable — skipped"] if bad else []
        result = json.loads(result) if result else None
        return {**run, "history": history, "result": result, "env": json.loads(env), "problems": problems}

    def snapshots(self, run_id: str, name: str | None = None) -> list[dict]:
        """The run's snapshots ({"name", "step", "payload"}), by name then step; only ``name``'s if given."""
        self._known(run_id)
        sql = "SELECT name, step, payload FROM snapshots WHERE run_id = ?"
        params: tuple = (run_id,)
        if name is not None:
            sql, params = sql + " AND name = ?", (run_id, name)
        rows = self._query(sql + " ORDER BY name, step", params)
        return [{"name": n, "step": s, "payload": decode_payload(p)} for n, s, p in rows]


def recorded(observers, store: RunStore | None, *, group_id: str, tag: str, source: str):
    """An observer factory (``label -> [Observer]``, what experiments and searches take) that also records
    each training it makes as one run of the group ``group_id``, named by its label; with no store, the
    factory as it was (a home that cannot be written costs the record, not the experiment)."""
    if store is None:
        return observers

    def make(label: str):
        short = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:40] or "run"
        run_id = f"{group_id}-{short}-{uuid.uuid4().hex[:4]}"
        return [*observers(label), store.writer(run_id, group_id=group_id, tag=tag, name=label, source=source)]

    return make


def usable_store() -> RunStore | None:
    """``$SEQLAB_HOME``'s store, or None with a warning on stderr when it cannot be written."""
    store = RunStore()
    try:
        store.ensure_writable()
    except StoreError as e:
        print(f"seqlab: warning: not recording: {e}", file=sys.stderr)
        return None
    return store
