"""Helpers for the AppTest page tests: open a page (optionally from a link), train, read charts."""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
from streamlit.testing.v1 import AppTest

from seqlab.ui.state import registry

ROOT = Path(__file__).resolve().parents[1]


def app(query: dict | None = None, page: str | None = None) -> AppTest:
    """app.py run once (navigation), then ``page`` (e.g. "pages/seq2seq.py"), with ``query`` in the URL."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def train(at: AppTest, page: str) -> list:
    """Press the page's Train, wait for its runs to finish, redraw; returns the runs."""
    at.button(key=f"{page}:train").click().run()
    runs = registry().visible(at.session_state[f"{page}:runs"])
    for r in runs:
        r.join(120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return runs


def join_all():
    for r in registry().running():
        r.join(120)


def wait_jobs(kind: str | None = None, timeout: float = 180) -> None:
    """Wait for the server's background jobs (searches, experiments, measurements) of ``kind`` to end."""
    for job in registry().jobs():
        if kind in (None, job.kind):
            assert job.wait(timeout), f"{job.kind} {job.label!r} still {job.status}"


def charts(at):
    return list(at.get("arrow_vega_lite_chart")) + list(at.get("vega_lite_chart"))


def specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in charts(at)]


def titles(spec_list):
    return [_title(s) for s in spec_list]


def _title(spec: dict) -> str | None:
    """A chart's title as one line (a wrapped title is a list of lines)."""
    t = spec.get("title")
    t = t.get("text") if isinstance(t, dict) else t
    return " ".join(t) if isinstance(t, list) else t


def chart_data(at, title: str, dataset: str | None = None) -> pd.DataFrame:
    """The rows behind the chart whose title starts with ``title`` (datasets travel as Arrow IPC streams)."""
    for c in charts(at):
        if (_title(json.loads(c.proto.spec)) or "").startswith(title):
            frames = [
                pa.ipc.open_stream(d.data.data).read_pandas() for d in c.proto.datasets if dataset in (None, d.name)
            ]
            return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    raise AssertionError(f"no chart titled {title!r}")


@contextmanager
def every_slot_held() -> Iterator[object]:
    """Fill every free slot of the server's registry with a job that holds it until the block ends
    (so the next job queues); yields the registry."""
    reg = registry()
    release = threading.Event()

    def hold(job):
        job.on_stop(release.set)
        release.wait(60)

    holders = [reg.submit("sweep", "holder", "someone else", hold) for _ in range(reg.max_running - reg.slots_taken())]
    try:
        yield reg
    finally:
        release.set()
        for h in holders:
            assert h.wait(10)
