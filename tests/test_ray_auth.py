"""Joining a Ray head that asks for a token (seqlab.ray_auth): Ray's refusal becomes one line that says
what to set, and a head whose token is readable here is joined without being asked."""

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from seqlab.ray_auth import HOW_TO_GET_ONE, auth_problem, token_source

ROOT = Path(__file__).parent.parent
# what Ray 2.60's GCS client raises when the head refuses (str of ray.exceptions.AuthenticationError)
REFUSED = (
    "RPC error: InvalidAuthToken: Authentication token is missing or incorrect. Note: RAY_AUTH_MODE is "
    "currently 'disabled' (not 'token'). Ensure that the token for the cluster is available in a local file"
)


def test_a_head_refusing_a_driver_without_a_token_says_the_head_wants_one_and_where_to_get_it():
    line = auth_problem("10.0.0.5:6379", REFUSED, sent=None, mode=None)
    assert line == (
        "the Ray head at 10.0.0.5:6379 requires an authentication token and none was found here; "
        "on the head, `ray get-auth-token` prints it; give it to seqlab as RAY_AUTH_TOKEN=<token> "
        "(or save it to ~/.ray/auth_token, or name a file holding it in RAY_AUTH_TOKEN_PATH)"
    )
    assert "\n" not in line


def test_a_refused_token_names_where_it_was_read_and_a_disabled_mode_says_to_unset_it():
    wrong = auth_problem("10.0.0.5:6379", REFUSED, sent=token_source({"RAY_AUTH_TOKEN": "x"}), mode="token")
    head = "the Ray head at 10.0.0.5:6379"
    assert wrong == f"{head} rejected the token from RAY_AUTH_TOKEN (not this cluster's); {HOW_TO_GET_ONE}"
    disabled = auth_problem("10.0.0.5:6379", REFUSED, sent=None, mode="disabled")
    assert "RAY_AUTH_MODE=disabled here sends none: unset it" in disabled


def test_other_ray_errors_are_not_taken_for_a_token_problem():
    assert auth_problem("10.0.0.5:6379", "Failed to connect to Ray cluster at 10.0.0.5:6379", None, None) is None
    assert auth_problem("10.0.0.5:6379", "DEADLINE_EXCEEDED: GetClusterId", None, None) is None


def test_the_token_is_looked_for_where_ray_reads_it_first():
    assert token_source({"RAY_AUTH_TOKEN": "t", "RAY_AUTH_TOKEN_PATH": "/p"}) == "RAY_AUTH_TOKEN"
    assert token_source({"RAY_AUTH_TOKEN_PATH": "/p"}) == "the file in RAY_AUTH_TOKEN_PATH (/p)"
    assert token_source({}) == "~/.ray/auth_token"


def test_token_mode_without_a_readable_token_is_refused_in_words_not_by_rays_abort(tmp_path):
    # Ray's core aborts the process (a C++ check, a stack trace) at its first call to a head in token mode
    # without a token; in a child process, since the check loads Ray's token state for the whole process
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env |= {"HOME": str(tmp_path), "RAY_AUTH_MODE": "token"}
    code = "from seqlab.ray_auth import check_token; print(check_token('127.0.0.1:1', 5.0))"
    for extra, said in [
        ({}, "RAY_AUTH_MODE=token but no authentication token was found here; "),
        (
            {"RAY_AUTH_TOKEN_PATH": str(tmp_path / "none")},
            f"RAY_AUTH_TOKEN_PATH names '{tmp_path / 'none'}', which cannot be read or is empty; ",
        ),
    ]:
        child = subprocess.run(
            [sys.executable, "-c", code], env=env | extra, capture_output=True, text=True, cwd=ROOT, timeout=60
        )
        assert child.returncode == 0 and child.stdout.startswith(said), child.stdout + child.stderr[-2000:]


# -- a real head started with `ray start --head`, token auth on ----------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes_of(temp: str) -> list[int]:
    """The head's processes (their command lines name its temp dir) and their children (Ray's workers)."""
    parents: dict[int, int] = {}
    ours: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if temp.encode() in cmdline:
            ours.add(int(entry.name))
    return sorted(ours | {pid for pid, ppid in parents.items() if ppid in ours})


def _stop(temp: str) -> None:
    # not `ray stop`: it stops every Ray on the machine, the other test sessions' included; SIGKILL because
    # the GCS and raylet outlived SIGTERM by 5 s here, and a test head has nothing to save
    for _ in range(3):  # a worker may be forked while its parent is being killed
        for pid in _processes_of(temp):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


@pytest.fixture
def token_head(tmp_path):
    ray_cli = Path(sys.executable).with_name("ray")
    if not ray_cli.exists():
        pytest.skip("no `ray` command next to this Python")
    temp = tempfile.mkdtemp(prefix="sqauth", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    token, port = secrets.token_hex(32), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env |= {"HOME": str(tmp_path), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    argv = [str(ray_cli), "start", "--head", "--num-cpus", "1", "--port", str(port), "--temp-dir", temp]
    argv += ["--include-dashboard=false", "--disable-usage-stats"]
    try:
        subprocess.run(argv, env=env, capture_output=True, check=True, timeout=60)
        yield f"127.0.0.1:{port}", token
    finally:
        _stop(temp)
        shutil.rmtree(temp, ignore_errors=True)


def _sweep(address: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    # a home without ~/.ray/auth_token: the token is only where each case puts it
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    clean |= {"HOME": str(tmp_path), "SEQLAB_HOME": str(tmp_path / "seqlab"), **env}
    tiny = ["--task", "parity", "--seq-len", "6", "--hidden", "8", "--steps", "12", "--seeds", "0-1"]
    argv = [
        sys.executable,
        "-m",
        "seqlab",
        "sweep",
        "--backend",
        "ray",
        "--address",
        address,
        *tiny,
        "--quiet",
        "--json",
    ]
    return subprocess.run(argv, env=clean, capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_a_token_head_is_joined_with_the_token_ray_reads_and_a_wrong_one_is_one_line(token_head, tmp_path):
    address, token = token_head
    joined = _sweep(address, tmp_path, RAY_AUTH_TOKEN=token)  # no RAY_AUTH_MODE: seqlab turns token mode on
    assert joined.returncode == 0 and joined.stderr == "", joined.stderr[-2000:]
    assert json.loads(joined.stdout.strip().splitlines()[-1])["counts"] == {"completed": 2}

    wrong = _sweep(address, tmp_path, RAY_AUTH_TOKEN="0" * 64)
    assert wrong.returncode == 2 and wrong.stdout == ""
    assert wrong.stderr.splitlines() == [
        f"seqlab: error: address: the Ray head at {address} rejected the token from RAY_AUTH_TOKEN "
        f"(not this cluster's); {HOW_TO_GET_ONE}"
    ]
