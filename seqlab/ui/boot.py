"""Make deep links work on a fresh server, with Streamlit's public behaviour only.

With a ``pages/`` folder beside app.py, Streamlit runs in its legacy multipage mode until some
script run has called ``st.navigation`` (which switches that mode off for the process). On a fresh
server a deep link such as ``/recurrent?seed=5`` — often a teacher's shared link, the very first
request — therefore runs pages/recurrent.py on its own, without app.py's page config, titles and
sidebar.

app.py routes every page inside ``routed()``. A page calls ``ensure_navigation()`` before drawing
anything: outside ``routed()`` it was started the legacy way, so it runs app.py in its place —
app.py's ``st.navigation`` routes the same URL (same query string, same script run, so nothing the
user sent is lost) and ends legacy mode for the process — and then stops the legacy run.

The flag is thread-local because each session's script runs in its own thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

APP = Path(__file__).resolve().parents[2] / "app.py"
_local = threading.local()


@contextmanager
def routed() -> Iterator[None]:
    """app.py wraps ``st.navigation(...).run()`` in this: pages run inside it are routed."""
    outer = getattr(_local, "routed", False)
    _local.routed = True
    try:
        yield
    finally:
        _local.routed = outer


def ensure_navigation() -> None:
    if not getattr(_local, "routed", False):
        exec(compile(APP.read_text(), str(APP), "exec"), {"__name__": "__main__", "__file__": str(APP)})  # noqa: S102
        st.stop()
