"""Load: eight browser sessions press Train at once on a real `streamlit run app.py` (issue #13).

The clients speak Streamlit's own websocket protocol (the BackMsg / ForwardMsg protobufs the browser
sends and receives), so eight sessions cost eight sockets, not eight browsers. What each session
sees is read from the elements the server sends it: the refusal alert, the run's status line, the
run ids the page writes into its URL. Threads and memory are read from /proc for the server process.
Run alone with ``-m load``.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.load

ROOT = Path(__file__).resolve().parents[1]
SESSIONS = 8
MAX_RUNS = 3
# one tiny run per session that would go on for hours: only Stop ends it
QUERY = "model=rnn&task=parity&seq_len=8&hidden=8&steps=1000000"
RSS_GROWTH_BOUND_MB = 200  # generous: a tiny run's state is kilobytes; this catches leaks per session or run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    env = dict(
        os.environ,
        SEQLAB_MAX_RUNS=str(MAX_RUNS),
        SEQLAB_THREADS="1",
        STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
        STREAMLIT_SERVER_HEADLESS="true",
    )
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--server.address", "127.0.0.1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("streamlit did not start within 30 s")
    yield port, proc.pid
    proc.terminate()
    proc.wait(10)


def threads_and_rss_mb(pid: int) -> tuple[int, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"Threads:\s+(\d+)", status)[1]), int(re.search(r"VmRSS:\s+(\d+)", status)[1]) / 1024


class Session:
    """One browser tab, reduced to what the test needs: rerun the recurrent page, optionally with one
    button pressed, and keep what the server drew (buttons, alerts, status lines, the URL's query)."""

    def __init__(self, ws):
        self.ws = ws
        self.buttons: dict[str, str] = {}
        self.alerts: list[str] = []
        self.status_lines: list[str] = []
        self.query = QUERY

    async def rerun(self, press: str | None = None) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = BackMsg()
        msg.rerun_script.query_string = self.query
        msg.rerun_script.page_name = "recurrent"
        if press:
            widget = msg.rerun_script.widget_states.widgets.add()
            widget.id, widget.trigger_value = self.buttons[press], True
        await self.ws.send(msg.SerializeToString())
        self.alerts, self.status_lines = [], []
        while True:  # a Train press reruns the script (st.rerun): read on to the run that completes
            fwd = ForwardMsg()
            fwd.ParseFromString(await asyncio.wait_for(self.ws.recv(), 40))
            kind = fwd.WhichOneof("type")
            if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                el = fwd.delta.new_element
                if el.WhichOneof("type") == "button":
                    self.buttons[el.button.label] = el.button.id
                elif el.WhichOneof("type") == "alert":
                    self.alerts.append(el.alert.body)
                elif el.WhichOneof("type") == "progress":
                    self.status_lines.append(el.progress.text)
            elif kind == "page_info_changed":
                self.query = fwd.page_info_changed.query_string
            elif kind == "script_finished" and fwd.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                return

    @property
    def run_ids(self) -> list[str]:
        return [i for i in dict(p.split("=", 1) for p in self.query.split("&")).get("runs", "").split(",") if i]


async def wait_for_threads(pid: int, want: int, seconds: float = 20.0) -> int:
    """The server's thread count once it equals ``want`` (or whatever it is after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while (n := threads_and_rss_mb(pid)[0]) != want and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return n


async def eight_sessions_press_train(port: int, pid: int) -> dict:
    import websockets

    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    # no client pings: a busy server answers late, and a dropped socket would end the session mid-test
    sockets = [
        await websockets.connect(url, subprotocols=["streamlit"], max_size=None, ping_interval=None)
        for _ in range(SESSIONS)
    ]
    try:
        sessions = [Session(ws) for ws in sockets]
        await asyncio.gather(*(s.rerun() for s in sessions))
        # the page's complexity panel measures in the background once per process, as a job holding one of
        # the cap's slots (its progress line is the only one before any run): let it finish, so every slot
        # is free and the memory baseline holds everything a loaded page costs
        # — and let its thread end: a job's line goes when its status does, its thread a moment later (seen: a
        # thread counted at rest that ended while the runs trained, so training - after stop came out 2, not 3)
        deadline = time.monotonic() + 30
        last = -1
        while time.monotonic() < deadline:
            now = threads_and_rss_mb(pid)[0]
            if not sessions[0].status_lines and now == last:
                break
            last = now
            await asyncio.sleep(0.5)
            await sessions[0].rerun()
        threads_rest, rss_before = threads_and_rss_mb(pid)

        await asyncio.gather(*(s.rerun(press="Train") for s in sessions))  # sent back to back, handled in parallel
        held = [s for s in sessions if s.run_ids]
        refused = [s for s in sessions if any(f"limit is {MAX_RUNS}" in a for a in s.alerts)]
        threads_training = await wait_for_threads(pid, threads_rest + len(held))
        seen = [(list(s.run_ids), list(s.status_lines)) for s in sessions]

        await asyncio.gather(*(s.rerun(press="Stop") for s in held))
        threads_after = await wait_for_threads(pid, threads_rest)
        await asyncio.gather(*(s.rerun() for s in held))
        stopped = [list(s.status_lines) for s in held]
        rss_after = threads_and_rss_mb(pid)[1]
    finally:
        for ws in sockets:
            await ws.close()
    return dict(
        held=len(held),
        refused=len(refused),
        seen=seen,
        stopped=stopped,
        threads=(threads_rest, threads_training, threads_after),
        rss=(rss_before, rss_after),
    )


def test_eight_sessions_pressing_train_at_once_start_exactly_the_cap_and_leave_no_threads(server):
    port, pid = server
    r = asyncio.run(asyncio.wait_for(eight_sessions_press_train(port, pid), 50))
    rest, training, after = r["threads"]
    before_mb, after_mb = r["rss"]
    print(
        f"\nsessions {SESSIONS}, cap {MAX_RUNS}: held {r['held']}, refused {r['refused']}; server threads at rest "
        f"{rest}, training {training}, after stop {after}; RSS {before_mb:.0f} MB -> {after_mb:.0f} MB"
    )
    assert (r["held"], r["refused"]) == (MAX_RUNS, SESSIONS - MAX_RUNS)
    # each session sees its own run and nobody else's: one id and one status line each, ids all different
    holders = [(ids, lines) for ids, lines in r["seen"] if ids]
    assert all(len(ids) == 1 and len(lines) == 1 and "running" in lines[0] for ids, lines in holders)
    assert len({ids[0] for ids, _ in holders}) == MAX_RUNS
    assert all(lines == [] for ids, lines in r["seen"] if not ids)
    assert all(len(lines) == 1 and "stopped" in lines[0] for lines in r["stopped"])
    # one worker thread per admitted run, and none left once they stop. Compared training vs after stop, not
    # vs rest: the pages' complexity measurements (one at a time) may still run at rest and end meanwhile
    assert training - after == MAX_RUNS, r["threads"]
    assert after <= rest, r["threads"]
    assert after_mb - before_mb < RSS_GROWTH_BOUND_MB
