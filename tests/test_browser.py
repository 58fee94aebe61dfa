"""Real browser, end to end: Debian chromium driven by playwright against `streamlit run app.py`.

Visits every page in the sidebar navigation, presses Train on the recurrent, seq2seq and language
pages, waits until the three panels have drawn their charts, and saves a screenshot of each page in
test-artifacts/.
Skipped locally when chromium is missing (`-m "not browser"` skips it always); CI installs
chromium, and there a missing browser is a failure, not a skip.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'
CHART = '[data-testid="stVegaLiteChart"]'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run must install Debian's chromium")
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    port = _free_port()
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false", STREAMLIT_SERVER_HEADLESS="true")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit did not start within 60 s")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"), args=FLAGS
        )
        pg = browser.new_page(viewport={"width": 1600, "height": 1300})
        yield pg
        browser.close()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def _exceptions(pg) -> list[str]:
    return pg.eval_on_selector_all('[data-testid="stException"]', "els => els.map(e => e.innerText)")


def _scroll_to(pg, heading: str) -> None:
    """Scroll a heading into view without waiting for it to be stable: a page still redrawing its
    fragments replaces the element, and a locator's scroll then fails with "not attached to the DOM"."""
    pg.evaluate(
        "name => [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')]"
        ".find(e => e.innerText.includes(name))?.scrollIntoView()",
        heading,
    )


def test_a_shared_link_is_the_first_request_to_a_fresh_server(server, page):
    """Runs first: the server has not yet executed app.py when this deep link arrives."""
    page.goto(f"{server}/recurrent?model=gru&task=parity&seq_len=7&seed=5")
    page.wait_for_selector(READY, timeout=60_000)
    page.wait_for_timeout(500)
    nav = page.inner_text('[data-testid="stSidebarNav"]')
    assert "Recurrent: RNN, LSTM, GRU" in nav and "Home: the lineage" in nav  # app.py's navigation, not pages/
    assert page.get_by_role("heading", name="Recurrent networks: RNN, LSTM, GRU").count() == 1
    assert page.get_by_label("random seed").input_value() == "5"  # the link's settings were applied
    assert page.get_by_label("number of bits T").input_value() == "7"  # parity's own length control
    assert not _exceptions(page)


def test_every_page_loads_without_exception(server, page):
    page.goto(server)
    page.wait_for_selector(READY, timeout=60_000)
    links = page.eval_on_selector_all('[data-testid="stSidebarNav"] a', "els => els.map(e => [e.href, e.innerText])")
    assert len(links) >= 3
    for i, (href, text) in enumerate(links):
        page.goto(href)
        page.wait_for_selector(READY, timeout=60_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / f"{i:02d}-{_slug(text)}.png"), full_page=True)
        assert not _exceptions(page), (text, _exceptions(page))


def test_train_on_the_recurrent_page_draws_all_three_panels(server, page):
    page.goto(f"{server}/recurrent?model=rnn&task=parity&seq_len=8&steps=400&eval_every=50")
    page.wait_for_selector(READY, timeout=60_000)
    page.get_by_role("button", name="Train", exact=True).click()
    # loss + metric, heatmap + latest profile, time + memory
    deadline = time.time() + 90
    while time.time() < deadline:
        drawn = page.eval_on_selector_all(
            CHART, "els => els.filter(e => e.querySelector('canvas, svg .mark-group, svg .marks')).length"
        )
        text = page.inner_text("body")
        if drawn >= 6 and "completed" in text:
            break
        page.wait_for_timeout(1000)
    page.screenshot(path=str(ARTIFACTS / "recurrent-trained.png"), full_page=True)
    assert drawn >= 6, f"only {drawn} charts drew marks"
    assert "completed" in page.inner_text("body")
    assert not _exceptions(page)


def test_train_on_the_seq2seq_page_draws_accuracy_by_length_and_the_alignment(server, page):
    page.goto(f"{server}/seq2seq?task=seq-reverse&seq_len=6&steps=150&eval_every=25&hidden=32&models=seq2seq,bahdanau")
    page.wait_for_selector(READY, timeout=60_000)
    page.get_by_role("button", name="Train", exact=True).click()
    # the three panels (≥ 6), accuracy by length (2) and bahdanau's alignment map (1)
    deadline = time.time() + 120
    while time.time() < deadline:
        drawn = page.eval_on_selector_all(
            CHART, "els => els.filter(e => e.querySelector('canvas, svg .mark-group, svg .marks')).length"
        )
        text = page.inner_text("body")
        ready = "Probe source" in text and "Sequence accuracy by input length" in text
        if drawn >= 9 and text.count("completed ·") == 2 and ready:
            break
        page.wait_for_timeout(1000)
    _scroll_to(page, "Accuracy by input length")
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "seq2seq-trained.png"))
    assert drawn >= 9, f"only {drawn} charts drew marks"
    assert "Sequence accuracy by input length" in text and "Probe source" in text
    assert not _exceptions(page)


def test_train_on_the_language_page_writes_samples_judged_against_the_grammar(server, page):
    page.goto(f"{server}/language?corpus=grammar&seq_len=32&steps=200&eval_every=50&hidden=32&layers=1")
    page.wait_for_selector(READY, timeout=60_000)
    page.get_by_role("button", name="Train", exact=True).click()
    # the three panels (≥ 6 charts), then the latest sample with its step and verdict
    deadline = time.time() + 120
    while time.time() < deadline:
        drawn = page.eval_on_selector_all(
            CHART, "els => els.filter(e => e.querySelector('canvas, svg .mark-group, svg .marks')).length"
        )
        text = page.inner_text("body")
        if drawn >= 6 and "completed" in text and "step 200" in text and "sentences grammatical" in text:
            break
        page.wait_for_timeout(1000)
    _scroll_to(page, "What the model writes")
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "language-trained.png"))
    assert drawn >= 6, f"only {drawn} charts drew marks"
    assert "step 200" in text and "sentences grammatical" in text
    assert not _exceptions(page)
