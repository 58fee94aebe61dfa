"""Presentation mode: a page made to be projected, switched on by ``?present=1`` in the link.

What changes (issue #17): the three panels come first, right under the title and the Train bar; the
settings fold into an expander below them; every text is scaled — charts through their Altair config
(``charts._spec``), the rest through the CSS below; chart titles wrap instead of being cut. The
sidebar switch and the link agree: the switch writes ``present=1`` and a link carrying it opens in
presentation mode. ``large=1``, the old projector switch's parameter, still opens it.

The page's elements stay in script order (AppTest and the widgets' state see one page); only the
browser draws them in another order, with CSS ``order`` on the main column's children: the title,
then the keyed containers ``RUNBAR``, ``PANELS`` and ``NOTICE``, then everything else.
"""

from __future__ import annotations

import streamlit as st

PARAM = "present"
LEGACY = "large"  # the projector switch's parameter before presentation mode
KEY = "seqlab_large"  # session key; charts and panels read it through state.large_fonts()
RUNBAR = "seqlab-runbar"
PANELS = "seqlab-panels"
NOTICE = "seqlab-notice"  # a loaded preset's "what to notice": right under the picture it describes
# text scale for everything that is not a chart: 1.3 × Streamlit's 1 rem reads from the back of a
# lecture room at 1280×720 and still leaves the three panels above the fold
TEXT_REM = 1.3

_MAIN = '[data-testid="stMainBlockContainer"] > [data-testid="stVerticalBlock"] > *'
CSS = f"""
<style>
[data-testid="stMainBlockContainer"] {{ padding-top: 3.5rem; padding-left: 2rem; padding-right: 2rem; }}
{_MAIN} {{ order: 4; }}
{_MAIN}:has(h1) {{ order: 0; }}
{_MAIN}:has(.st-key-{RUNBAR}) {{ order: 1; }}
{_MAIN}:has(.st-key-{PANELS}) {{ order: 2; }}
{_MAIN}:has(.st-key-{NOTICE}) {{ order: 3; }}
[data-testid="stMain"] h1 {{ font-size: 2rem; padding: 0 0 0.25rem 0; }}
[data-testid="stMain"] h5 {{ font-size: {TEXT_REM * 1.1:.2f}rem; padding: 0; }}
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMain"] [data-testid="stMarkdownContainer"] li,
[data-testid="stMain"] [data-testid="stWidgetLabel"] p,
[data-testid="stMain"] [data-testid="stExpander"] summary p {{ font-size: {TEXT_REM}rem; }}
[data-testid="stMain"] [data-testid="stCaptionContainer"],
[data-testid="stMain"] [data-testid="stCaptionContainer"] p {{ font-size: {TEXT_REM * 0.9:.2f}rem; }}
[data-testid="stMain"] [data-testid="stProgress"] p {{ font-size: {TEXT_REM * 0.9:.2f}rem; }}
.st-key-{PANELS} [data-testid="stProgress"] {{ margin-bottom: -0.5rem; }}
/* the panels' headings repeat their charts' titles: their height goes to the charts */
.st-key-{PANELS} [data-testid="stElementContainer"]:has(h5) {{ display: none; }}
</style>
"""


def from_link() -> bool:
    """Whether the link asks for presentation mode (``present=1``, or the old ``large=1``)."""
    return any(st.query_params.get(k) in ("1", "true") for k in (PARAM, LEGACY))


def presenting() -> bool:
    return bool(st.session_state.get(KEY, False))


def present_toggle() -> bool:
    """The sidebar's presentation switch, seeded once per session from the link, written back to it."""
    ss = st.session_state
    if f"{KEY}:seeded" not in ss:
        ss[KEY] = from_link()
        ss[f"{KEY}:seeded"] = True
    if not isinstance(ss.get(KEY), bool):
        ss[KEY] = False
    on = st.toggle(
        "Presentation mode",
        key=KEY,
        value=ss[KEY],
        help="panels first, settings folded away, every text larger; in the link as present=1",
    )
    if LEGACY in st.query_params:  # one spelling in the links this app writes
        del st.query_params[LEGACY]
    if on and st.query_params.get(PARAM) != "1":
        st.query_params[PARAM] = "1"
    elif not on and PARAM in st.query_params:
        del st.query_params[PARAM]
    if on:
        st.html(CSS)
    return on
