"""Process- and session-level state for the pages: the run registry (one per server process,
kept by ``st.cache_resource`` so page switches and reloads keep runs; it also admits and queues the
background jobs, ``seqlab.jobs``), the session's identity, and the run ids each page shows (mirrored
in the URL so a reload or a shared link finds them). The registry is the one process-wide object."""

from __future__ import annotations

import uuid

import streamlit as st

from ..jobs import Job
from ..train.live import RunRegistry


@st.cache_resource
def registry() -> RunRegistry:
    return RunRegistry.for_server()


def session_job(name: str) -> Job | None:
    """The job this session keeps under ``name`` (e.g. a page's search), if the server still has it."""
    return registry().job(st.session_state.get(f"job:{name}"))


def keep_job(name: str, job: Job | None) -> Job | None:
    st.session_state[f"job:{name}"] = job.id if job is not None else None
    return job


def shared_job(name: str, kind: str, label: str, work, key: tuple) -> Job:
    """The session's job under ``name``, else the process's job for ``key`` (made now if none, shared by
    every session asking for the same key). The session keeps the one it got, so a failed or stopped
    job stays on its page until asked again instead of being made anew on every redraw."""
    return session_job(name) or keep_job(name, registry().submit(kind, label, owner(), work, key=key))


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
