import os

import pytest
import torch


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
def _one_thread():
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray (2 CPUs, no dashboard) for one test module's Ray tests, shut down after them."""
    ray = pytest.importorskip("ray")  # pinned in requirements.txt: present wherever the suite runs
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
