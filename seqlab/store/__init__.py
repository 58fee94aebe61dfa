"""The run store: every run the app or the CLI trains, in one SQLite database that outlives the process.

Where: ``$SEQLAB_HOME/seqlab.db`` (``SEQLAB_HOME`` defaults to ``~/.seqlab``), in WAL mode so pages read
while runs write. Nothing is read or written outside that file; run ids are keys, never paths.

Writing (an engine observer, like the CLI's progress bar and the app's live view)::

    store = RunStore()                       # or RunStore(folder) / RunStore("x.db") in tests
    store.ensure_writable()                  # refuse a bad home before training, not after
    w = store.writer(new_run_id("lstm", "adding"), group_id=None, tag=None, name="", source="cli")
    Trainer(config, [w]).run()               # a 'running' row, records every ≤1 s, the result at the end
    store.add_snapshot(run_id, "attention", step, payload)   # what a page draws; numpy arrays allowed

A run left ``running`` by a process that died (same host, pid gone) is marked ``interrupted`` the next
time a process opens the database; it keeps every record flushed before the crash.

Reading (the History page, export, seed bands, replay)::

    store.list(model=, task=, status=, tag=, group=, sort="-created", limit=)  -> [summary]
    store.summary(run_id)   -> {id, name, model, task, status, group_id, tags, seed, source, created,
                                updated, steps, seconds, final_loss, metrics, config}
    store.load(run_id)      -> summary + {history: {"train": [...], "eval": [...]}, result, env, problems}
    store.group(group_id)   -> [summary] of a seed group or sweep, oldest first
    store.snapshots(run_id, name=None) -> [{"name", "step", "payload"}]
    store.ids()             -> every run id, sorted

``status`` is ``running``, ``interrupted`` or the engine's final status (``completed``, ``target_reached``,
``time_budget``, ``diverged``, ``stopped``, ``failed``). Records are the engine's ``StepRecord`` /
``EvalRecord`` as dicts (grad-by-time vectors included; a NaN or inf loss comes back as float NaN/inf).

Changing: ``rename(run_id, name)``, ``tag(run_id, tag)`` / ``untag``, ``delete(run_id)``,
``import_folder(dir)`` (the retired folder store's ``runs/`` folders, see ``seqlab.store.folders``).

Every failure is a ``StoreError`` naming its field (``run``, ``SEQLAB_HOME``, ``sort``…): an id that is not
one (``../../etc/passwd``) or is unknown (the nearest id is suggested), a damaged or locked database, one
from a newer schema (refused, never modified), a home that cannot be written.
"""

from .db import SCHEMA, RunStore, RunWriter, StoreError, check_run_id, new_run_id, recorded, usable_store

__all__ = [
    "SCHEMA",
    "RunStore",
    "RunWriter",
    "StoreError",
    "check_run_id",
    "new_run_id",
    "recorded",
    "usable_store",
]
