"""Make deep links work on a fresh server.

Streamlit decides per process whether the app uses the legacy ``pages/`` folder: until app.py has
called ``st.navigation`` once, a request for ``/recurrent?…`` runs pages/recurrent.py on its own —
without app.py's page config, titles and sidebar. A teacher's shared link is often exactly that
first request. Each page calls ``ensure_navigation()`` before drawing anything: started the legacy
way, it runs app.py in its place (which routes the same URL through ``st.navigation`` within this
same script run, so no click or widget change is lost) and then stops the legacy run.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

APP = Path(__file__).resolve().parents[2] / "app.py"


def ensure_navigation() -> None:
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a future Streamlit without the legacy mode: nothing to do
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        exec(compile(APP.read_text(), str(APP), "exec"), {"__name__": "__main__", "__file__": str(APP)})  # noqa: S102
        st.stop()
