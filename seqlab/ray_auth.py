"""Joining a Ray head that asks for an authentication token (Ray's token auth, ray 2.60).

How Ray 2.60 decides, read from the installed package (ray/_private/authentication/, ray/_private/worker.py):

- ``ray start --head`` turns token auth on when RAY_AUTH_MODE is unset and a token is readable; any
  local ``ray.init()`` (seqlab's local Ray, its tests) writes one to ~/.ray/auth_token, so on most
  machines that have run Ray once, a head started by hand asks for a token.
- A driver sends its token only in token mode (RAY_AUTH_MODE=token). ``ray.init`` switches it on by
  itself only for a cluster it finds locally (address ``auto`` without RAY_ADDRESS), never for an
  explicit HOST:PORT: the head then refuses the driver ("Authentication token is missing or
  incorrect") and ``ray.init`` retries for a minute, which seqlab reported as "no Ray head answered".
- The token is read from RAY_AUTH_TOKEN, else the file named by RAY_AUTH_TOKEN_PATH, else
  ~/.ray/auth_token; ``ray get-auth-token`` prints it (``--generate`` creates one). In token mode with
  no token, or with RAY_AUTH_TOKEN_PATH naming an unreadable file, Ray's core aborts the process.

So ``check_token`` asks the head once without a token (its GCS answers in milliseconds); if the head
refuses and a token is readable here, it switches this process to token mode as ``ray.init`` does for a
local cluster, and asks again. What is still refused becomes one line saying what to do.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
from collections.abc import Iterator

MODE_VAR, TOKEN_VAR, PATH_VAR = "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"
DEFAULT_TOKEN_FILE = "~/.ray/auth_token"
HOW_TO_GET_ONE = (
    f"on the head, `ray get-auth-token` prints it; give it to seqlab as {TOKEN_VAR}=<token> "
    f"(or save it to {DEFAULT_TOKEN_FILE}, or name a file holding it in {PATH_VAR})"
)
# the texts Ray's GCS client and ray.init give a refused or absent token (InvalidAuthToken is the RPC status)
_REFUSED = re.compile(r"InvalidAuthToken|Unauthenticated|authentication token", re.IGNORECASE)
_REFUSAL_LOG = re.compile(rb"gcs_client\.cc:\d+: .*(InvalidAuthToken|Unauthenticated)")


def token_source(env: dict[str, str] | os._Environ = os.environ) -> str:
    """Where Ray reads this process's token, in its own order of precedence."""
    if env.get(TOKEN_VAR):
        return TOKEN_VAR
    if env.get(PATH_VAR):
        return f"the file in {PATH_VAR} ({env[PATH_VAR]})"
    return DEFAULT_TOKEN_FILE


def auth_problem(address: str, error: str, sent: str | None, mode: str | None) -> str | None:
    """The line to say when Ray's ``error`` text is the head at ``address`` refusing this driver, None
    when it is something else. ``sent``: where the token sent came from (None: none was sent);
    ``mode``: this process's RAY_AUTH_MODE."""
    if not _REFUSED.search(error):
        return None
    head = f"the Ray head at {address} requires an authentication token"
    if sent is not None:
        return f"the Ray head at {address} rejected the token from {sent} (not this cluster's); {HOW_TO_GET_ONE}"
    if (mode or "").lower() == "disabled":
        return f"{head}, and {MODE_VAR}=disabled here sends none: unset it; {HOW_TO_GET_ONE}"
    return f"{head} and none was found here; {HOW_TO_GET_ONE}"


def check_token(address: str, timeout: float) -> str | None:
    """Make this process able to join the head at HOST:PORT ``address``, switching it to token mode if the
    head asks for a token and one is readable here; if it cannot, what to do (for the field ``address``).
    None too after ``timeout`` seconds without an answer (``ray.init``'s own wait then reports)."""
    outcome: list[BaseException | str | None] = []

    def run() -> None:
        try:
            outcome.append(_check_token(address))
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread and raised there
            outcome.append(e)

    # Ray's GCS client logs every refusal on fd 2 itself ("gcs_client.cc: Failed to get cluster ID ...
    # Unauthenticated"), the first one even when the second ask succeeds: fd 2 is held while it asks and
    # given back without those lines, so a refusal is said once, in seqlab's words
    with _fd2_held():
        worker = threading.Thread(target=run, daemon=True, name="seqlab-ray-auth")
        worker.start()
        worker.join(timeout)
    if outcome and isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0] if outcome else None


def _check_token(address: str) -> str | None:
    from ray.exceptions import AuthenticationError

    mode = os.environ.get(MODE_VAR)
    sent = None
    if (mode or "").lower() == "token":
        has_token, unreadable = _token_here()
        if unreadable or not has_token:  # Ray's core would abort the process at its first call to the head
            return unreadable or f"{MODE_VAR}=token but no authentication token was found here; {HOW_TO_GET_ONE}"
        sent = token_source()
    try:
        _ask_head(address)
        return None
    except AuthenticationError as e:
        error = str(e)
    if mode is None:  # asked only now: a head without token auth is joined whatever the token's state
        has_token, unreadable = _token_here()
        if unreadable:
            return unreadable
        if has_token:
            _token_mode()
            try:
                _ask_head(address)
                return None
            except AuthenticationError as e:
                error, sent = str(e), token_source()
    return auth_problem(address, error, sent, mode) or error.splitlines()[0]


def _token_here() -> tuple[bool, str | None]:
    """Whether Ray finds a token here, whatever the mode; and what is wrong if RAY_AUTH_TOKEN_PATH names no
    readable token (Ray aborts the process on it in token mode)."""
    from ray._raylet import AuthenticationTokenLoader
    from ray.exceptions import AuthenticationError

    try:
        return AuthenticationTokenLoader.instance().has_token(ignore_auth_mode=True), None
    except AuthenticationError:
        return False, (
            f"{PATH_VAR} names {os.environ.get(PATH_VAR)!r}, which cannot be read or is empty; "
            "point it at a file holding the head's token (on the head, `ray get-auth-token` prints it), or unset it"
        )


def _ask_head(address: str) -> None:
    """One call to the head's GCS (its cluster id); raises Ray's AuthenticationError if it refuses."""
    from ray._raylet import GcsClient

    GcsClient(address=address)


def _token_mode() -> None:
    """What ``ray.init`` does for a local cluster when a token exists (authentication_token_setup.py)."""
    from ray._private.authentication.authentication_token_setup import _enable_token_auth

    _enable_token_auth()


@contextlib.contextmanager
def _fd2_held() -> Iterator[None]:
    """Send fd 2 to a temporary file meanwhile, then write back what it caught but Ray's refusal lines."""
    with tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            kept = [line for line in sink.read().splitlines(keepends=True) if not _REFUSAL_LOG.search(line)]
            if kept:
                os.write(2, b"".join(kept))
