"""History: every recorded run — filter, sort, overlay, rename, tag, delete, open one read-only."""

import streamlit as st

from seqlab.ui.boot import ensure_navigation
from seqlab.ui.history import history_page

ensure_navigation()  # before anything is drawn: a deep link (?run=ID) on a fresh server

st.title("History: every recorded run")
st.markdown(
    "Every run trained in the app, and by the CLI with `--save`, `sweep` or `record`, is kept in the run "
    "database. Pick runs in the table to lay them over each other in the same panels the training pages "
    "draw — today's run beside last week's, one seed beside another."
)
history_page()
