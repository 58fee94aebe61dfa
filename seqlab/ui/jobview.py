"""How a page shows a background job (``seqlab.jobs``): its place in the queue or its progress, a Stop,
and a redraw of the whole page once it ends."""

from __future__ import annotations

import streamlit as st

from ..jobs import Job
from .frames import LIVE_POLL_SECONDS as POLL_SECONDS
from .state import owner, registry


def job_line(job: Job, stop_key: str | None = None) -> None:
    """A progress bar whose text says where the job stands ("waiting: 4 jobs running — starts when one
    ends (1st in line)" while queued), and a Stop for this session (shared jobs go on for others)."""
    reg = registry()
    fraction = job.progress().fraction if job.status == "running" else 0.0
    st.progress(fraction, text=reg.status_text(job))
    if stop_key and st.button("Stop", key=stop_key):
        reg.stop_job(job.id, owner())


def until_ended(job: Job, draw) -> None:
    """``draw()`` now and every poll while ``job`` has not ended; the page redraws once it has."""

    @st.fragment(run_every=POLL_SECONDS)
    def poll():
        if job.ended:
            st.rerun()
        draw()

    poll()


def job_error(job: Job, what: str) -> bool:
    """Show a failed job's error (True if it failed)."""
    if job.status == "failed":
        st.error(f"{what} failed: {job.error}")
        return True
    return False
