"""Real browser, end to end: Debian chromium driven by playwright against `streamlit run app.py`.

Visits every page in the sidebar navigation, presses Train on the recurrent, seq2seq and language
pages, waits until the three panels have drawn their charts, and saves a screenshot of each page in
test-artifacts/.
Skipped locally when chromium is missing (`-m "not browser"` skips it always); CI installs
chromium, and there a missing browser is a failure, not a skip.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
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


def _require_chromium() -> None:
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run must install Debian's chromium")
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")


@contextmanager
def _serve():
    """A fresh `streamlit run app.py` on a free port; yields its URL once the port accepts."""
    port = _free_port()
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false", STREAMLIT_SERVER_HEADLESS="true")
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
    # the server's output goes to a file: an unread pipe fills up and blocks a chatty server
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below, after the server ends
    proc = subprocess.Popen([*cmd, "--server.address", "127.0.0.1"], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120  # generous: a loaded 2-core machine imports torch slowly
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"streamlit did not start: {log.read().decode()[-2000:]}")
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:  # a loaded machine: don't let a slow shutdown fail the test
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def server():
    _require_chromium()
    with _serve() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    _require_chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"), args=FLAGS
        )
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(server, browser):
    pg = browser.new_page(viewport={"width": 1600, "height": 1300})
    yield pg
    pg.close()


def _open(pg, url: str) -> None:
    """Go to ``url`` and wait until its script run has drawn the page and finished.

    ``READY`` alone is not enough: the app shell carries it before the first script run has even
    started (seen: the page's widgets appeared up to 5 s after it on a busy machine). Each load's
    seconds are kept in ``LOADS`` and written to test-artifacts/page-loads.json at the end (issue #17's
    "page loads after the first under 2 s" is a measurement, read there, not a timed assertion)."""
    start = time.monotonic()
    pg.goto(url)
    pg.wait_for_function(
        # a page that failed shows an exception instead of its title: report it rather than wait
        "sel => document.querySelector(sel) && document.querySelector("
        '\'[data-testid="stMain"] h1, [data-testid="stException"]\')',
        arg=READY,
        timeout=120_000,
    )
    LOADS.append({"url": url.split("//", 1)[-1].split("/", 1)[-1], "seconds": round(time.monotonic() - start, 3)})


LOADS: list[dict] = []


@pytest.fixture(scope="module", autouse=True)
def _write_page_loads():
    yield
    if LOADS:
        ARTIFACTS.mkdir(exist_ok=True)
        later = sorted(x["seconds"] for x in LOADS[1:])
        summary = {"loads": LOADS, "after_first_median_s": later[len(later) // 2] if later else None}
        summary["after_first_max_s"] = later[-1] if later else None
        (ARTIFACTS / "page-loads.json").write_text(json.dumps(summary, indent=1))


def _until(pg, condition, seconds: float, every_ms: int = 1000):
    """Poll ``condition()`` until it returns something truthy or ``seconds`` pass; returns its last value."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        pg.wait_for_timeout(every_ms)


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


def _drawn(pg) -> int:
    return pg.eval_on_selector_all(
        CHART, "els => els.filter(e => e.querySelector('canvas, svg .mark-group, svg .marks')).length"
    )


_last: list = [0, ""]  # what the page showed at the last look, for the failure message


def _seen(pg, condition) -> tuple[int, str] | None:
    """(charts drawn, page text) at one look if ``condition(drawn, text)`` holds, else None. Both are
    kept from the same look: a rerun after training redraws the charts, so a second look can
    catch them mid-redraw with no marks."""
    drawn, text = _drawn(pg), pg.inner_text("body")
    _last[:] = [drawn, text]
    return (drawn, text) if condition(drawn, text) else None


def _title_in(title: str, text: str) -> bool:
    """Whether a chart title is in the page text: titles wrap onto SVG lines (seqlab.ui.charts), which the
    page's innerText joins with no space between them ("…by inputlength"), so compare without spaces."""
    return "".join(title.split()) in "".join(text.split())


def _all_charts_drawn(pg) -> bool:
    return _drawn(pg) == len(pg.query_selector_all(CHART))


def test_a_shared_link_is_the_first_request_to_a_fresh_server(server, page):
    """Runs first: the server has not yet executed app.py when this deep link arrives.

    Each value is read the moment its widget appears — the frame in which a widget created from
    Session State alone showed its parameter default (seed 0) — and again from the URL after a
    rerun the browser starts, which is what the server kept."""
    page.goto(f"{server}/recurrent?models=gru,lstm&task=parity&seq_len=7&seed=5&steps=321")
    seed = page.get_by_label("random seed")
    seed.wait_for(state="attached", timeout=120_000)
    first = {
        "seed": seed.input_value(),
        "T": page.get_by_label("number of bits T").input_value(),
        "steps": page.get_by_label("steps", exact=True).input_value(),
        "compare": page.get_by_label("Compare models (same task and seed)").is_checked(),
        "models": page.eval_on_selector_all(".react-aria-ComboBox [data-tag]", "els => els.map(e => e.innerText)"),
    }
    assert first["seed"] == "5" and first["T"] == "7" and first["steps"] == "321", first
    assert first["compare"] is True, first
    assert [m.split(" ")[0] for m in first["models"]] == ["gru", "lstm"], first
    page.wait_for_selector(READY, timeout=120_000)
    nav = page.inner_text('[data-testid="stSidebarNav"]')
    assert "Recurrent: RNN, LSTM, GRU" in nav and "Home: the lineage" in nav  # app.py's navigation, not pages/
    assert page.get_by_role("heading", name="Recurrent networks: RNN, LSTM, GRU").count() == 1
    # a rerun from the browser: the server still holds every value of the link
    steps = page.get_by_label("steps", exact=True)
    steps.fill("322")
    steps.press("Enter")
    page.wait_for_url(re.compile(r"steps=322"), timeout=120_000)
    assert re.search(r"[?&]seed=5(&|$)", page.url) and "models=gru%2Clstm" in page.url.replace(",", "%2C"), page.url
    assert not _exceptions(page)


def test_a_shared_link_with_bad_values_falls_back_with_a_note_on_the_first_request(browser):
    """Its own fresh server: bad values in the very first request fall back to defaults, with a note."""
    with _serve() as url:
        pg = browser.new_page(viewport={"width": 1600, "height": 1300})
        try:
            _open(pg, f"{url}/recurrent?model=gru&task=parity&seed=-3&seq_len=7&bogus=1")
            notes = pg.eval_on_selector_all('[data-testid="stAlert"]', "els => els.map(e => e.innerText)")
            text = " ".join(notes)
            assert re.search(r"From the link: ignored seed='-3'", text), notes
            assert re.search(r"From the link: ignored 'bogus': not a setting", text), notes
            assert pg.get_by_label("random seed").input_value() == "0"  # the default, not the bad value
            assert pg.get_by_label("number of bits T").input_value() == "7"  # the good values still apply
            assert not _exceptions(pg)
        finally:
            pg.close()


def test_every_page_loads_without_exception(server, page):
    _open(page, server)
    links = page.eval_on_selector_all('[data-testid="stSidebarNav"] a', "els => els.map(e => [e.href, e.innerText])")
    assert len(links) >= 3
    for i, (href, text) in enumerate(links):
        _open(page, href)
        _until(page, lambda: _all_charts_drawn(page), 30, 200)  # for the screenshot only
        page.screenshot(path=str(ARTIFACTS / f"{i:02d}-{_slug(text)}.png"), full_page=True)
        assert not _exceptions(page), (text, _exceptions(page))


def test_train_on_the_recurrent_page_draws_all_three_panels(server, page):
    _open(page, f"{server}/recurrent?model=rnn&task=parity&seq_len=8&steps=400&eval_every=50")
    page.get_by_role("button", name="Train", exact=True).click()
    # loss + metric, heatmap + latest profile, time + memory
    drawn, text = _until(page, lambda: _seen(page, lambda d, t: d >= 6 and "completed" in t), 300) or _last
    _until(page, lambda: _all_charts_drawn(page), 30, 200)  # for the screenshot only
    page.screenshot(path=str(ARTIFACTS / "recurrent-trained.png"), full_page=True)
    assert drawn >= 6, f"only {drawn} charts drew marks"
    assert "completed" in text
    assert not _exceptions(page)


def test_train_on_the_seq2seq_page_draws_accuracy_by_length_and_the_alignment(server, page):
    _open(
        page, f"{server}/seq2seq?task=seq-reverse&seq_len=6&steps=150&eval_every=25&hidden=32&models=seq2seq,bahdanau"
    )
    page.get_by_role("button", name="Train", exact=True).click()
    # the three panels (≥ 6), accuracy by length (2) and bahdanau's alignment map (1)

    def done(d: int, text: str) -> bool:
        ready = "Probe source" in text and _title_in("Sequence accuracy by input length", text)
        return d >= 9 and text.count("completed ·") == 2 and ready

    drawn, text = _until(page, lambda: _seen(page, done), 300) or _last
    _scroll_to(page, "Accuracy by input length")
    _until(page, lambda: _all_charts_drawn(page), 30, 200)  # for the screenshot only
    page.screenshot(path=str(ARTIFACTS / "seq2seq-trained.png"))
    assert drawn >= 9, f"only {drawn} charts drew marks"
    assert _title_in("Sequence accuracy by input length", text) and "Probe source" in text
    assert not _exceptions(page)


def test_train_on_the_language_page_writes_samples_judged_against_the_grammar(server, page):
    _open(page, f"{server}/language?corpus=grammar&seq_len=32&steps=200&eval_every=50&hidden=32&layers=1")
    page.get_by_role("button", name="Train", exact=True).click()
    # the three panels (≥ 6 charts), then the latest sample with its step and verdict

    def done(d: int, text: str) -> bool:
        return d >= 6 and "completed" in text and "step 200" in text and "sentences grammatical" in text

    drawn, text = _until(page, lambda: _seen(page, done), 300) or _last
    _scroll_to(page, "What the model writes")
    _until(page, lambda: _all_charts_drawn(page), 30, 200)  # for the screenshot only
    page.screenshot(path=str(ARTIFACTS / "language-trained.png"))
    assert drawn >= 6, f"only {drawn} charts drew marks"
    assert "step 200" in text and "sentences grammatical" in text
    assert not _exceptions(page)


# page coordinates (the viewport's top plus how far the page is scrolled) of the three panels' columns
# and of the first chart in each
PANEL_TOPS = """() => {
    const scrolled = e => { let y = 0; for (let a = e.parentElement; a; a = a.parentElement) y += a.scrollTop || 0;
                            return y; };
    const top = e => e ? Math.round(e.getBoundingClientRect().top + scrolled(e)) : null;
    return [...document.querySelectorAll('.st-key-seqlab-panels [data-testid="stColumn"]')].slice(0, 3)
        .map(col => [top(col), top(col.querySelector('[data-testid="stVegaLiteChart"]'))]);
}"""
# the width of the first canvas-drawn chart, then each of ``lines`` measured in the font of a drawn SVG title
TITLE_WIDTHS = """lines => {
    const t = document.querySelector('[data-testid="stVegaLiteChart"] svg .role-title-text text');
    const a = n => t.getAttribute(n), ctx = document.createElement('canvas').getContext('2d');
    ctx.font = [a('font-weight') || 'bold', a('font-size') || '15px', a('font-family') || 'sans-serif'].join(' ');
    const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
    const chart = charts.find(c => c.querySelector('canvas')) || charts[0];
    return [chart.getBoundingClientRect().width, ...lines.map(l => ctx.measureText(l).width)];
}"""


def test_presentation_mode_at_1280x720_shows_the_three_panels_above_the_fold_with_whole_titles(
    server, browser, tmp_path
):
    """A projector's 1280×720: a link with present=1 puts the three panels under the title and Train bar,
    and no chart title is cut. SVG titles are read as drawn (Vega ends a cut one with "…"); a heatmap
    drawn on canvas has its title lines measured in the drawn titles' font against its width."""
    import pandas as pd

    from seqlab.ui import charts

    pg = browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        _open(pg, f"{server}/recurrent?model=rnn&task=parity&seq_len=8&steps=200&eval_every=50&present=1")
        pg.get_by_role("button", name="Train", exact=True).click()
        # loss + metric, heatmap + latest profile, time + memory
        drawn, text = _until(pg, lambda: _seen(pg, lambda d, t: d >= 6 and "completed" in t), 300) or _last
        _until(pg, lambda: _all_charts_drawn(pg), 30, 200)
        assert drawn >= 6 and "completed" in text, (drawn, text[-500:])
        assert re.search(r"[?&]present=1(&|$)", pg.url), pg.url
        tops = pg.evaluate(PANEL_TOPS)
        assert len(tops) == 3 and all(col < 720 and chart is not None and chart < 720 for col, chart in tops), tops
        claim = pg.evaluate(
            "() => [...document.querySelectorAll('p')].find(p => p.innerText.startsWith('Claim.'))"
            ".getBoundingClientRect().top"
        )
        assert claim > max(col for col, _ in tops), "the panels come before the claim"
        assert pg.get_by_text("Settings and classic demos").count() == 1  # the settings folded away
        svg_titles = pg.eval_on_selector_all(
            f"{CHART} svg .role-title-text text, {CHART} svg .role-title-subtitle text",
            "els => els.map(e => e.textContent)",
        )
        assert svg_titles and not [t for t in svg_titles if t.endswith("…")], svg_titles
        heat = charts.grad_heatmap(pd.DataFrame(columns=["run", "step", "t", "norm", "log10"]), "rnn", large=True)
        assert heat.title == "Gradient reaching each input — rnn"
        width, *lines = pg.evaluate(TITLE_WIDTHS, heat.spec["title"]["text"])
        assert all(w <= width for w in lines), (width, lines)
        pg.screenshot(path=str(tmp_path / "present-1280x720.png"))
        pg.screenshot(path=str(ARTIFACTS / "present-1280x720.png"))
        assert not _exceptions(pg)
    finally:
        pg.close()


# a loaded preset's note (its box: top and bottom) and the three panels' headings (text, top, bottom), in
# page coordinates
PRESET_LAYOUT = """() => {
    const box = e => { const r = e.getBoundingClientRect(); return [Math.round(r.top), Math.round(r.bottom)]; };
    const note = [...document.querySelectorAll('[data-testid="stAlert"]')]
        .find(e => e.innerText.startsWith('What to notice'));
    const heads = [...document.querySelectorAll('.st-key-seqlab-panels h5')].map(h => [h.innerText, ...box(h)]);
    return {note: note ? [...box(note), note.innerText] : null, heads, scrolled: window.scrollY
            + (document.querySelector('[data-testid="stMain"]')?.scrollTop || 0)};
}"""


@pytest.mark.parametrize(
    "page_name, preset_name",
    [
        ("language", "Brackets: GPT vs LSTM on Dyck words"),  # the longest note: six lines at this width
        ("emerging", "Selectivity: SSM vs selective SSM on recall"),  # the tallest settings (recall's options)
    ],
)
def test_a_loaded_presets_note_and_the_three_panel_titles_fit_a_1600x1000_screen(
    server, browser, page_name, preset_name
):
    """Normal mode, sidebar open: the note is read before the panels and both are in sight without scrolling
    (before the settings folded under the note, these presets put the panels' titles at 1,084 and 1,117 px)."""
    from seqlab.presets import PRESETS, slug

    preset = next(p for p in PRESETS[page_name] if p.name == preset_name)
    pg = browser.new_page(viewport={"width": 1600, "height": 1000})
    try:
        _open(pg, f"{server}/{page_name}?preset={slug(preset_name)}")  # the picker shows it; the button loads it
        pg.get_by_role("button", name="Load preset").click()
        loaded = """sel => document.querySelector(sel) && document.querySelectorAll('.st-key-seqlab-panels h5').length
            === 3 && [...document.querySelectorAll('[data-testid="stAlert"]')].some(e =>
            e.innerText.startsWith('What to notice'))"""
        pg.wait_for_function(loaded, arg=READY, timeout=120_000)
        got = pg.evaluate(PRESET_LAYOUT)
        pg.screenshot(path=str(ARTIFACTS / f"preset-{page_name}-1600x1000.png"))
        assert got["scrolled"] == 0 and got["note"] is not None, got
        top, bottom, text = got["note"]
        assert preset.lesson.sentence in " ".join(text.split()), text  # the whole note, its lesson included
        assert [h[0] for h in got["heads"]] == ["Loss", "Gradient by time step", "Complexity scaling"]
        assert all(bottom < head_top and head_bottom <= 900 for _, head_top, head_bottom in got["heads"]), got
        assert not _exceptions(pg)
    finally:
        pg.close()


def test_history_page_lists_overlays_and_opens_a_run_read_only(browser, tmp_path, monkeypatch):
    """Its own server on a home holding two recorded runs: the table lists them, ticking both rows draws
    them over each other, and a run's link opens it read-only; a traversal id gets a note."""
    from storefake import fake_db_run

    from seqlab.store import RunStore

    monkeypatch.setenv("SEQLAB_HOME", str(tmp_path / "home"))
    store = RunStore()
    fake_db_run(store, "run-rnn-a", records=30, flat={"seq_len": 6}, name="first")
    fake_db_run(store, "run-lstm-b", records=30, flat={"model": "lstm", "seq_len": 6})
    with _serve() as url:
        pg = browser.new_page(viewport={"width": 1600, "height": 1300})
        try:
            _open(pg, f"{url}/history")
            grid = pg.locator('[data-testid="stDataFrame"]')
            grid.wait_for(timeout=60_000)
            assert "2 of 2 runs" in pg.inner_text("body")
            box = grid.bounding_box()
            for row in (0, 1):  # the row markers: the grid's first column, rows 35 px below a 35 px header
                pg.mouse.click(box["x"] + 15, box["y"] + 35 + 35 * row + 17)
                pg.wait_for_timeout(1500)
            # two runs ticked: "Delete 2 run(s)", and no Rename (it is for one run); waiting for "Rename" here
            # waited out its whole 120 s on every run before the assertion below passed anyway
            drawn, text = _until(pg, lambda: _seen(pg, lambda d, t: d >= 4 and "Delete 2 run(s)" in t), 120) or _last
            _until(pg, lambda: _all_charts_drawn(pg), 30, 200)  # for the screenshot only
            pg.screenshot(path=str(ARTIFACTS / "history-overlay.png"), full_page=True)
            assert drawn >= 4 and "Delete 2 run(s)" in text and "Select one run to rename it." in text, text[-1500:]
            assert not _exceptions(pg)

            _open(pg, f"{url}/history?run=run-lstm-b")
            drawn, text = _until(pg, lambda: _seen(pg, lambda d, t: d >= 3 and "Read-only" in t), 120) or _last
            pg.screenshot(path=str(ARTIFACTS / "history-read-only.png"), full_page=True)
            assert "Read-only" in text and "Run again with these settings" in text and "Rename" not in text
            assert drawn >= 3

            _open(pg, f"{url}/history?run=..%2F..%2Fetc%2Fpasswd")
            notes = pg.eval_on_selector_all('[data-testid="stAlert"]', "els => els.map(e => e.innerText)")
            assert any("is not a run id" in n for n in notes), notes
            assert not _exceptions(pg)
        finally:
            pg.close()


@pytest.mark.timeout(600)  # two worker processes import torch on a shared, loaded 2-core machine
def test_sweeps_page_runs_a_grid_on_the_pool_and_draws_seed_bands_and_a_heatmap(server, page):
    _open(page, f"{server}/sweeps")
    fields = page.get_by_label("more grid fields: NAME=V1,V2 …")
    # the page opens with the preset's values, so first a value the preset's click must visibly replace: its
    # rerun has then drawn (READY alone can match before that rerun starts) ...
    fields.fill("seq_len=3")
    fields.press("Enter")
    _until(page, lambda: page.query_selector(READY) is not None and fields.input_value() == "seq_len=3", 120, 200)
    page.get_by_role("button", name="Preset: RNN vs LSTM vs GRU on adding, T=10…200").click()
    # ... and ended: a value typed while it still ran was overwritten by it (Streamlit keeps an interrupted run's
    # button press for the next run), and the sweep then ran the preset's 45 points
    _until(
        page,
        lambda: fields.input_value() == "seq_len=10,25,50,100,200" and page.query_selector(READY) is not None,
        120,
        200,
    )
    for label, value in (("more grid fields: NAME=V1,V2 …", "seq_len=4,8"), ("training steps per point", "40")):
        box = page.get_by_label(label)
        box.fill(value)
        box.press("Enter")
        _until(page, lambda b=box, v=value: page.query_selector(READY) is not None and b.input_value() == v, 120, 200)
    assert fields.input_value() == "seq_len=4,8"
    page.get_by_role("button", name="Launch sweep").click()
    # 3 models × 2 lengths × 3 seeds on two worker processes; then the band chart and the heatmap
    seen = _until(page, lambda: _seen(page, lambda d, t: d >= 2 and "18 of 18 points" in t), 540) or _last
    _until(page, lambda: _all_charts_drawn(page), 30, 200)  # for the screenshot only
    page.screenshot(path=str(ARTIFACTS / "sweeps-finished.png"), full_page=True)
    drawn, text = seen
    assert drawn >= 2 and "18 of 18 points" in text, (drawn, text[-500:])
    assert "points: 18 completed" in text
    assert not _exceptions(page)
