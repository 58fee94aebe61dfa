"""seqlab: the dashboard. `streamlit run app.py`"""

import streamlit as st

from seqlab.plugins import load_env
from seqlab.ui.boot import routed
from seqlab.ui.present import from_link, present_toggle

st.set_page_config(
    page_title="seqlab — sequence models, live",
    page_icon="📈",
    layout="wide",
    initial_sidebar_state="collapsed" if from_link() else "auto",  # a projected page needs the width
)

PAGES = [
    st.Page("pages/home.py", title="Home: the lineage", default=True),
    st.Page("pages/foundations.py", title="Foundations: MLP & backprop"),
    st.Page("pages/recurrent.py", title="Recurrent: RNN, LSTM, GRU"),
    st.Page("pages/seq2seq.py", title="Seq2seq & attention"),
    st.Page("pages/transformers.py", title="Transformers: GPT & BERT"),
    st.Page("pages/language.py", title="Language models"),
    st.Page("pages/emerging.py", title="Emerging: SSMs, MoE, search"),
    st.Page("pages/complexity.py", title="Complexity lab"),
    st.Page("pages/history.py", title="History: recorded runs"),
]

with st.sidebar:
    present_toggle()  # in the link as present=1
    st.caption("Every setting lives in the page's URL: copy the link to share the exact experiment.")
    # $SEQLAB_PLUGINS: each file is loaded once per process; one that fails is left out and named here
    for error in load_env():
        st.error(f"Not loaded: {error}", icon="🧩")

with routed():  # pages started outside this were started the legacy way (seqlab/ui/boot.py)
    st.navigation(PAGES).run()
