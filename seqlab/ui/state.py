"""Process- and session-level state for the pages: the run registry (one per server process,
kept by ``st.cache_resource`` so page switches and reloads keep runs), the session's identity,
and the run ids each page shows (mirrored in the URL so a reload or a shared link finds them)."""

from __future__ import annotations

import uuid
from concurrent.futures import Future, ThreadPoolExecutor

import streamlit as st

from ..train.live import RunRegistry


@st.cache_resource
def registry() -> RunRegistry:
    return RunRegistry.for_server()


@st.cache_resource
def _jobs() -> tuple[ThreadPoolExecutor, dict]:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="seqlab-measure"), {}


def background(key: tuple, fn, *args) -> Future:
    """Run ``fn(*args)`` once per key in a worker thread (never in the script thread); the future
    is shared by every session, so the measurement is cached for the process."""
    pool, futures = _jobs()
    if key not in futures:
        futures[key] = pool.submit(fn, *args)
    return futures[key]


def drop_background(key: tuple) -> None:
    """Forget the job for ``key`` (finished or not), so the next ``background`` call runs it again."""
    _jobs()[1].pop(key, None)


def owner() -> str:
    if "seqlab_owner" not in st.session_state:
        st.session_state.seqlab_owner = uuid.uuid4().hex
    return st.session_state.seqlab_owner


def page_runs(page: str) -> list[str]:
    """Run ids shown on ``page``: this session's, or those named in the URL (a reload or a shared link).
    Ids in the link that this server does not hold are dropped with a note (``link_notes``)."""
    key = f"{page}:runs"
    if key not in st.session_state:
        from_url = [i for i in st.query_params.get("runs", "").split(",") if i]
        st.session_state[key] = [r.id for r in registry().visible(from_url)]
        st.session_state[f"{page}:run_notes"] = missing_runs_notes(from_url, st.session_state[key])
    return st.session_state[key]


def link_notes(page: str) -> list[str]:
    """What the link asked for that this page could not show (reads the link's run ids if not yet read)."""
    page_runs(page)
    return st.session_state.get(f"{page}:run_notes", [])


def missing_runs_notes(asked: list[str], found: list[str], shown: int = 5) -> list[str]:
    """A note naming the run ids of a link that are not on this server (at most ``shown`` of them)."""
    missing = [i for i in dict.fromkeys(asked) if i not in set(found)]
    if not missing:
        return []
    names = ", ".join(repr(i) for i in missing[:shown]) + (
        f" and {len(missing) - shown} more" if len(missing) > shown else ""
    )
    return [
        f"ignored runs={names}: not on this server (runs live in its memory, so a restart or many newer runs "
        "drop them); press Train to run these settings again"
    ]


def set_page_runs(page: str, ids: list[str]) -> None:
    st.session_state[f"{page}:runs"] = list(ids)


def large_fonts() -> bool:
    return bool(st.session_state.get("seqlab_large", False))
