import os
import sys
import threading
import time

import pytest
import torch

from seqlab import jobs

# a stopped run or job ends at its next step or check; a loaded 2-core machine took ~1.4 s for a big
# model's step (seqlab.jobs.EXIT_WAIT_SECONDS), so this is many steps' worth
STOP_WAIT_SECONDS = 60.0


@pytest.fixture(autouse=True, scope="session")
def _private_seqlab_home(tmp_path_factory):
    """Measurements a test stores (the complexity cache) go to a temporary home, never ~/.seqlab."""
    before = os.environ.get("SEQLAB_HOME")
    os.environ["SEQLAB_HOME"] = str(tmp_path_factory.mktemp("seqlab-home"))
    yield
    if before is None:
        os.environ.pop("SEQLAB_HOME", None)
    else:
        os.environ["SEQLAB_HOME"] = before


@pytest.fixture(autouse=True)
def _fresh_seqlab_home(tmp_path, monkeypatch):
    """Each test starts with no stored measurements (servers started once per session keep the above)."""
    monkeypatch.setenv("SEQLAB_HOME", str(tmp_path / "seqlab-home"))


@pytest.fixture(autouse=True)
def _no_work_outlives_its_test():
    """Runs and jobs a test started and left working (the measurements a page starts when it opens, a
    Train not waited for) are stopped and joined when it ends. The exit hook would stop them only at the
    session's end; until then they train and measure beside every later test, on the same two cores.
    Work already running before the test (a module's fixture) is left alone."""
    with jobs._working_lock:
        before = dict(jobs._working)  # holds them, so no new worker can reuse one of their ids
    yield
    asked: dict[int, object] = {}
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while True:
        with jobs._working_lock:
            left = [w for i, w in jobs._working.items() if i not in before]
        for w in left:
            if id(w) not in asked:
                asked[id(w)] = w
                w.stop()
        if not left or time.monotonic() > deadline:
            break
        # one at a time, then look again: an ending run frees a slot that a queued job may take
        left[0].join(0.5)
    for w in asked.values():  # out of the registry is not yet out of its thread's last lines
        w.join(max(0.1, deadline - time.monotonic()))
    alive = [t.name for t in threading.enumerate() if any(t is w._thread for w in asked.values())]
    assert not alive, f"still working {STOP_WAIT_SECONDS:g} s after the test's end asked them to stop: {alive}"


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def local_ray():
    """A local Ray (2 CPUs, no dashboard) for the Ray tests of the search and the sweep: started once (its
    start and first workers took 5-15 s here, once per module before) and shut down after the last test
    that uses it (``pytest_runtest_teardown`` below), so the modules between run without it."""
    ray = pytest.importorskip("ray")  # pinned in requirements.txt: present wherever the suite runs
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


_last_ray_test: list[str] = []


def pytest_collection_modifyitems(items):
    users = [item.nodeid for item in items if "local_ray" in getattr(item, "fixturenames", ())]
    _last_ray_test[:] = users[-1:]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield
    if [item.nodeid] == _last_ray_test and "ray" in sys.modules:
        sys.modules["ray"].shutdown()
