"""The bad-input catalogue: every line of ``tests/bad_inputs/*.jsonl`` is one case of one parametrised test.

Kinds (one JSON object per line; ``id`` names the case, ``why`` may say which issue item it covers):

- ``cli``: ``argv`` (and ``env``) run in-process through ``seqlab.cli.main``; the exit code must be ``exit``
  (default 2), stderr exactly one line, no traceback, matching the regex ``stderr``; ``stdout`` (a regex) is
  checked when given. ``{tmp}`` in argv and env is a fresh folder; ``SEQLAB_HOME`` defaults to ``{tmp}/home``.
  ``setup`` names a fixture from ``SETUPS`` (a run database, a damaged one, damaged run folders to import in
  ``{tmp}/runs``, …), ``files`` writes input files into ``{tmp}``.
  Training is forbidden: every case must be refused (or answered) before the first step.
- ``config``: ``RunConfig.from_flat(flat)`` raises ConfigError on ``field`` with a text matching ``message``.
  ``upload`` (a payload as in the upload kind) is registered first and its id put in ``flat["text_id"]``.
- ``query``: ``RunConfig.from_query(query, base=RunConfig.from_flat(base or {}))`` returns a valid config and a
  note matching ``note``, never raising; a ``runs`` value goes through the pages' link reading (run ids this
  server does not hold are named).
- ``upload``: the chars task's upload check (``validate_text``) refuses the payload with ``message``. A payload is
  ``text`` or ``hex``, optionally × ``repeat``, or ``distinct``: that many different CJK characters.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from storefake import DAMAGE, fake_db_run, fake_run

from seqlab.cli import main
from seqlab.config import RunConfig
from seqlab.errors import ConfigError
from seqlab.store import SCHEMA, RunStore
from seqlab.tasks.chars import register_text, validate_text
from seqlab.train.engine import Trainer

DIR = Path(__file__).parent / "bad_inputs"
KINDS = ("cli", "config", "query", "upload")


def _cases() -> list[dict]:
    cases = []
    for path in sorted(DIR.glob("*.jsonl")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                cases.append({**json.loads(line), "_at": f"{path.name}:{number}"})
    return cases


CASES = _cases()


def payload(spec: dict) -> bytes:
    if "distinct" in spec:
        data = "".join(chr(0x4E00 + i) for i in range(spec["distinct"])).encode()
    else:
        data = bytes.fromhex(spec["hex"]) if "hex" in spec else spec["text"].encode()
    return data * spec.get("repeat", 1)


# -- fixtures a cli case can name as "setup"; each gets the case's tmp folder ----------------------------------
def _database(tmp: Path) -> RunStore:
    """A database holding "good-run": three training records of step and loss alone, no evaluation."""
    fake_run(tmp / "old-runs", "good-run")
    store = RunStore(tmp / "home")
    store.import_folder(tmp / "old-runs")
    return store


def _folders_with(damage: str):
    """Old run-store folders to import: a good run and one with ``damage``."""

    def setup(tmp: Path) -> None:
        fake_run(tmp / "runs", "good-run")
        DAMAGE[damage](fake_run(tmp / "runs", "bad-run"))

    return setup


def _database_with_a_running_run(tmp: Path) -> None:
    fake_db_run(_database(tmp), "running-run", end=False)  # written by this (live) process: still running


def _home_is_a_file(tmp: Path) -> None:
    (tmp / "home").write_text("a file where SEQLAB_HOME should be")


def _run_outside_the_store(tmp: Path) -> None:
    fake_run(tmp, "elsewhere/x")
    _database(tmp)


def _db_corrupt(tmp: Path) -> None:
    (tmp / "home").mkdir()
    (tmp / "home" / "seqlab.db").write_bytes(b"not SQLite at all " * 64)


def _db_newer(tmp: Path) -> None:
    store = _database(tmp)
    store._shared().execute("INSERT INTO schema_version VALUES (?, 0)", (SCHEMA + 1,))
    store.close()


SETUPS = {
    "store": _database,
    "store-running": _database_with_a_running_run,
    **{name: _folders_with(name) for name in DAMAGE},
    "home-is-a-file": _home_is_a_file,
    "run-outside-the-store": _run_outside_the_store,
    "db-corrupt": _db_corrupt,
    "db-newer": _db_newer,
}


def test_the_catalogue_is_well_formed():
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert {c["kind"] for c in CASES} <= set(KINDS)
    assert all(c.get("setup") in (None, *SETUPS) for c in CASES)
    for c in CASES:  # a regex that does not compile would only fail when its case runs
        for key in ("stderr", "stdout", "message", "note"):
            if key in c:
                re.compile(c[key])


@pytest.fixture
def no_training(monkeypatch):
    monkeypatch.setattr(Trainer, "run", lambda self: pytest.fail("the case started training"))


def _fill(value: str, tmp: Path) -> str:
    return value.replace("{tmp}", str(tmp))


def run_cli(case: dict, tmp: Path, monkeypatch, capsys) -> None:
    if case.get("setup"):
        SETUPS[case["setup"]](tmp)
    for name, spec in case.get("files", {}).items():
        (tmp / name).write_bytes(payload(spec))
    monkeypatch.setenv("SEQLAB_HOME", str(tmp / "home"))
    for name, value in case.get("env", {}).items():
        monkeypatch.setenv(name, _fill(value, tmp))
    code = main([_fill(a, tmp) for a in case["argv"]])
    out, err = capsys.readouterr()
    assert code == case.get("exit", 2), err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1 and err.strip(), err
    assert re.search(case["stderr"], err), err
    if "stdout" in case:
        assert re.search(case["stdout"], out), out


def run_config(case: dict) -> None:
    flat = dict(case["flat"])
    if "upload" in case:
        flat["text_id"] = register_text(payload(case["upload"]))
    with pytest.raises(ConfigError) as e:
        RunConfig.from_flat(flat)
    assert e.value.field == case["field"], str(e.value)
    assert re.search(case["message"], str(e.value)), str(e.value)
    assert "\n" not in str(e.value)


def run_query(case: dict) -> None:
    query = dict(case["query"])
    notes = []
    if "runs" in query:
        from seqlab.ui.state import missing_runs_notes

        asked = [i for i in query.pop("runs").split(",") if i]
        notes += missing_runs_notes(asked, found=[])  # a fresh server holds no runs
    config, more = RunConfig.from_query(query, base=RunConfig.from_flat(case.get("base", {})))
    notes += more
    assert isinstance(config, RunConfig)
    assert any(re.search(case["note"], n) for n in notes), notes
    assert all("\n" not in n for n in notes), notes


def run_upload(case: dict) -> None:
    with pytest.raises(ConfigError) as e:
        validate_text(payload(case))
    assert e.value.field == "task.text"
    assert re.search(case["message"], str(e.value)), str(e.value)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input_is_refused_with_a_message_that_says_what_to_do(case, tmp_path, monkeypatch, capsys, no_training):
    if case["kind"] == "cli":
        run_cli(case, tmp_path, monkeypatch, capsys)
    else:
        {"config": run_config, "query": run_query, "upload": run_upload}[case["kind"]](case)
