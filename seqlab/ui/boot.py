"""Make deep links work on a fresh server.

Streamlit decides per process whether the app uses the legacy ``pages/`` folder: until app.py has
called ``st.navigation`` once, a first request for ``/recurrent?…`` runs pages/recurrent.py on its
own — without app.py's page config, titles and sidebar. A teacher's shared link is often exactly
that first request. Each page calls ``ensure_navigation()`` first: if it was started the legacy
way, it switches the process to ``st.navigation`` and reruns, so app.py routes the same URL.
"""

from __future__ import annotations

import streamlit as st


def ensure_navigation() -> None:
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a future Streamlit without the legacy mode: nothing to do
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
