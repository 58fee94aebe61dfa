"""The History page: every recorded run in one table — filtered, sorted, overlaid in the training pages'
panels, renamed, tagged, deleted — and one run opened read-only from its link (``?run=ID``).

The table is built from ``RunStore.list`` summaries only (no records), so 1,000 runs list in a few
tens of ms (``seqlab bench --record`` times ``history_table`` beside the store's listing). Records are
loaded for the selected runs alone, and drawn by the same builders as a live run (``seqlab.replay``'s
``StoredRun`` is what the panels read). A run id from the URL is only ever a key into the database
(``check_run_id`` refuses anything that could be a path).
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from ..config import RunConfig
from ..errors import SeqlabError
from ..replay import StoredRun
from ..store import RunStore, StoreError, check_run_id
from .state import large_fonts

PAGE = "history"
# which page trains a model on a task, for "run again" (the first page that offers both; the pages' own lists)
PAGES = {
    "recurrent": (("rnn", "lstm", "gru"), ("adding", "copy", "parity", "recall", "reverse", "sort")),
    "seq2seq": (("seq2seq", "bahdanau", "luong", "transformer"), ("seq-reverse", "seq-sort", "numbers")),
    "transformers": (("gpt", "bert", "lstm", "rnn"), ("reverse", "copy", "sort", "recall", "parity", "adding")),
    "emerging": (
        ("ssm", "selective-ssm", "moe", "lstm", "gpt"),
        ("copy", "recall", "reverse", "sort", "parity", "adding"),
    ),
    "foundations": (("mlp", "rnn"), ("parity", "reverse", "sort", "adding")),
    "language": (("gpt", "lstm", "gru", "rnn", "ssm", "selective-ssm", "moe"), ("chars",)),
}
METRICS = ("accuracy", "sequence_accuracy", "mse")  # the first a run has is its "final metric"
COLUMNS = ["id", "name", "model", "task", "settings", "seed", "status", "metric", "final", "final loss", "steps"]
COLUMNS += ["seconds", "date", "tags"]


@st.cache_resource
def _store(path: str) -> RunStore:
    return RunStore(path)


def run_store() -> RunStore:
    """The run database of ``$SEQLAB_HOME`` (read at each call, so a test's home is the one read)."""
    return _store(str(RunStore().path))


# -- pure parts (no st.*): what the table shows, and the links ---------------------------------------------
def settings_text(config: dict) -> str:
    """The settings that tell runs of one model and task apart: length, width, depth, rate, steps."""
    model, task, train = config.get("model", {}), config.get("task", {}), config.get("train", {})
    parts = [f"n={task.get('seq_len')}", f"d={model.get('hidden')}"]
    if model.get("layers", 1) != 1:
        parts.append(f"L={model['layers']}")
    parts += [f"lr={train.get('lr'):g}" if train.get("lr") is not None else "", f"{train.get('steps', 0):,} steps"]
    parts += [f"{k}={v}" for k, v in {**task.get("options", {}), **model.get("options", {})}.items()]
    return " ".join(p for p in parts if p)


def final_metric(summary: dict) -> tuple[str, float | None]:
    """The run's held-out metric at its end (accuracy, else mse), else ("", None)."""
    metrics = summary["metrics"] or {}
    name = next((m for m in METRICS if m in metrics), None)
    return (name, metrics[name]) if name else ("", None)


def history_table(summaries: list[dict]) -> pd.DataFrame:
    """One row per run, in the order given (the columns of ``COLUMNS``)."""
    rows = []
    for s in summaries:
        metric, value = final_metric(s)
        rows.append(
            {
                "id": s["id"],
                "name": s["name"],
                "model": s["model"],
                "task": s["task"],
                "settings": settings_text(s["config"]),
                "seed": s["seed"],
                "status": s["status"],
                "metric": metric,
                "final": value,
                "final loss": s["final_loss"],
                "steps": s["steps"],
                "seconds": s["seconds"],
                "date": pd.Timestamp(s["created"], unit="s"),
                "tags": ", ".join(s["tags"]),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def page_for(model: str, task: str) -> str | None:
    return next((p for p, (models, tasks) in PAGES.items() if model in models and task in tasks), None)


def run_again_link(summary: dict) -> str | None:
    """The training page that trains this model on this task, with the run's settings in its URL."""
    page = page_for(summary["model"], summary["task"])
    if page is None:
        return None
    try:
        query = RunConfig.build(summary["config"]).to_query()
    except SeqlabError:  # a config an older seqlab wrote: the page's own defaults are the honest fallback
        query = {"model": summary["model"], "task": summary["task"]}
    return f"/{page}?{urlencode(query)}"


def run_link(run_id: str) -> str:
    return f"/{PAGE}?{urlencode({'run': run_id})}"


def labels_for(summaries: list[dict]) -> list[str]:
    """A distinct label per run (a run's colour in every panel): its name, else its model, with the id's tail
    when two would read the same."""
    base = [s["name"] or s["model"] for s in summaries]
    return [b if base.count(b) == 1 else f"{b} · {s['id'][-6:]}" for b, s in zip(base, summaries, strict=True)]


# -- the page ----------------------------------------------------------------------------------------------
def history_page() -> None:
    store = run_store()
    asked = st.query_params.get("run")
    if asked is not None:
        read_only(store, asked)
        return
    try:
        summaries = store.list()
    except StoreError as e:
        st.error(str(e), icon="⚠️")
        return
    if not summaries:
        st.info(
            f"No recorded runs yet in `{store.path}`. Every run trained in the app is recorded, and the CLI's "
            "`train --save`, `sweep` and `record` add theirs."
        )
        return
    table = filtered(history_table(summaries))
    st.caption(f"{len(table):,} of {len(summaries):,} runs · click rows to overlay them · database `{store.path}`")
    event = st.dataframe(
        table,
        key=f"{PAGE}:table",
        on_select="rerun",
        selection_mode="multi-row",
        hide_index=True,
        width="stretch",
        column_config={
            "id": None,
            "final": st.column_config.NumberColumn("final", format="%.3f"),
            "final loss": st.column_config.NumberColumn(format="%.4g"),
            "seconds": st.column_config.NumberColumn(format="%.1f"),
            "date": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        },
    )
    rows = list(event.selection.rows) if event is not None else []
    chosen = [table["id"].iloc[i] for i in rows if i < len(table)]
    if not chosen:
        st.caption("Select one or more runs to draw them on top of each other, rename, tag or delete them.")
        return
    by_id = {s["id"]: s for s in summaries}
    picked = [by_id[i] for i in chosen]
    manage(store, picked)
    overlay(store, picked)


def filtered(table: pd.DataFrame) -> pd.DataFrame:
    """The filter row above the table (sorting is the table's own: click a column header)."""
    c1, c2, c3, c4, c5 = st.columns([2, 2, 2, 2, 3])
    models = c1.multiselect("model", sorted(table["model"].unique()), key=f"{PAGE}:model")
    tasks = c2.multiselect("task", sorted(table["task"].unique()), key=f"{PAGE}:task")
    statuses = c3.multiselect("status", sorted(table["status"].unique()), key=f"{PAGE}:status")
    tags = sorted({t for cell in table["tags"] for t in cell.split(", ") if t})
    tag = c4.selectbox("tag", tags, index=None, placeholder="any tag", key=f"{PAGE}:tag")
    text = c5.text_input("name or id contains", key=f"{PAGE}:text")
    keep = pd.Series(True, index=table.index)
    for column, chosen in (("model", models), ("task", tasks), ("status", statuses)):
        if chosen:
            keep &= table[column].isin(chosen)
    if tag:
        keep &= table["tags"].str.split(", ").apply(lambda ts: tag in ts)
    if text.strip():
        needle = text.strip().lower()
        keep &= table["name"].str.lower().str.contains(needle, regex=False) | table["id"].str.contains(
            needle, regex=False
        )
    return table[keep].reset_index(drop=True)


def manage(store: RunStore, picked: list[dict]) -> None:
    """Rename (one run), tag, delete with a confirmation step; the links of each run."""
    ids = [s["id"] for s in picked]
    with st.container(border=True):
        c1, c2, c3 = st.columns([3, 3, 2])
        with c1:
            if len(picked) == 1:
                name = st.text_input("name", value=picked[0]["name"], key=f"{PAGE}:name:{ids[0]}")
                if st.button("Rename", key=f"{PAGE}:rename"):
                    _apply(lambda: store.rename(ids[0], name.strip()), f"Renamed to {name.strip()!r}.")
            else:
                st.caption("Select one run to rename it.")
        with c2:
            tag = st.text_input("tag", key=f"{PAGE}:new_tag", placeholder="e.g. lecture 3")
            if st.button(f"Tag {len(ids)} run(s)", key=f"{PAGE}:add_tag", disabled=not tag.strip()):
                _apply(lambda: [store.tag(i, tag) for i in ids], f"Tagged {len(ids)} run(s) {tag.strip()!r}.")
        with c3:
            confirm = st.session_state.get(f"{PAGE}:confirm")
            if confirm != ids:
                if st.button(f"Delete {len(ids)} run(s)…", key=f"{PAGE}:delete"):
                    st.session_state[f"{PAGE}:confirm"] = ids
                    st.rerun()
            else:
                st.warning(f"Delete {len(ids)} run(s) and everything recorded for them? This cannot be undone.")
                y, n = st.columns(2)
                if y.button("Delete", type="primary", key=f"{PAGE}:delete_yes"):
                    st.session_state.pop(f"{PAGE}:confirm", None)
                    st.session_state.pop(f"{PAGE}:table", None)  # the rows it points at are gone
                    _apply(lambda: [store.delete(i) for i in ids], f"Deleted {len(ids)} run(s).")
                if n.button("Cancel", key=f"{PAGE}:delete_no"):
                    st.session_state.pop(f"{PAGE}:confirm", None)
                    st.rerun()
        done = st.session_state.pop(f"{PAGE}:done", None)
        if done:
            st.success(done)
        for s in picked:
            again = run_again_link(s)
            again_text = f" · [run again]({again})" if again else " · (no page trains this model on this task)"
            st.markdown(f"`{s['id']}` — [open read-only]({run_link(s['id'])}){again_text}")


def _apply(change, done: str) -> None:
    try:
        change()
    except SeqlabError as e:
        st.error(str(e), icon="⚠️")
        return
    st.session_state[f"{PAGE}:done"] = done
    st.rerun()


def stored_runs(store: RunStore, picked: list[dict]) -> tuple[list[StoredRun], list[str]]:
    """The picked runs read back for drawing, and a note for each that could not be."""
    out, notes = [], []
    for s, label in zip(picked, labels_for(picked), strict=True):
        try:
            loaded = store.load(s["id"])
            out.append(StoredRun(loaded, label))
            notes += loaded["problems"]
        except SeqlabError as e:
            notes.append(f"{s['id']}: {e}")
    return out, notes


def overlay(store: RunStore, picked: list[dict]) -> None:
    from .panels import draw_panels

    runs, notes = stored_runs(store, picked)
    for note in notes:
        st.warning(note, icon="⚠️")
    if not runs:
        return
    draw_panels(PAGE, [r.snapshot() for r in runs], [r.config.model.name for r in runs])
    snapshot_panels(store, runs)


def read_only(store: RunStore, asked: str) -> None:
    """One run from its link: everything recorded, nothing to change."""
    try:
        check_run_id(asked)
        summary = store.summary(asked)
    except StoreError as e:
        st.warning(f"Cannot open the run in this link: {e}", icon="⚠️")
        st.page_link(f"pages/{PAGE}.py", label="All recorded runs")
        return
    st.subheader(summary["name"] or f"{summary['model']} on {summary['task']}")
    metric, value = final_metric(summary)
    ended = "" if value is None else f" · held-out {metric} {value:.3g}"
    st.caption(
        f"Read-only · `{summary['id']}` · {summary['status'].replace('_', ' ')} · {summary['steps']:,} steps"
        f"{ended} · {settings_text(summary['config'])} · seed {summary['seed']} · "
        f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(summary['created']))}"
        + (f" · tags {', '.join(summary['tags'])}" if summary["tags"] else "")
    )
    again = run_again_link(summary)
    if again:
        st.markdown(f"[Run again with these settings]({again})")
    overlay(store, [summary])


def snapshot_panels(store: RunStore, runs: list[StoredRun]) -> None:
    """The page-specific panels whose data the runs kept (the exact cell gradient, attention maps, expert
    load), drawn from their snapshots at the end of training."""
    from .panels import show

    kept = {r.id: {s["name"]: s["payload"] for s in store.snapshots(r.id)} for r in runs}
    large = large_fonts()
    cell = [
        {"run": r.label, "t": t + 1, "norm": max(v, 1e-12), "step": kept[r.id]["hidden"][-1]["step"]}
        for r in runs
        if kept[r.id].get("hidden")
        for t, v in enumerate(kept[r.id]["hidden"][-1]["dL_dh"])
    ]
    attention = [(r, kept[r.id]["attention"]) for r in runs if kept[r.id].get("attention", [[]])[0]]
    experts = [(r, kept[r.id]["experts"]) for r in runs if kept[r.id].get("experts")]
    if not (cell or attention or experts):
        return
    from . import charts

    st.subheader("Inside the models (kept at the end of training)")
    if cell:
        labels = list(dict.fromkeys(row["run"] for row in cell))
        show(
            charts.grad_latest_chart(
                pd.DataFrame(cell),
                labels,
                large,
                title="Exact ‖∂L/∂h_t‖ in the cell, last probe",
                y_title="‖∂L/∂h_t‖ (log)",
            )
        )
    cols = st.columns(3)
    for col, (r, (steps, maps)) in zip(cols, attention[:3], strict=False):
        with col:
            show(charts.attention_chart(maps[-1][-1].mean(0), f"{r.label} · step {steps[-1]:,}", large=large))
    for _, rows in experts[:3]:
        show(charts.expert_load_chart(pd.DataFrame(rows), 1, large))
