"""Where seqlab keeps what outlives a process: ``$SEQLAB_HOME``, default ``~/.seqlab``.

The run database (``seqlab.db``) and the complexity cache live there; nothing else is written outside it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("SEQLAB_HOME") or "~/.seqlab").expanduser()


@contextmanager
def temporary_home(prefix: str | None = None) -> Iterator[str]:
    """``SEQLAB_HOME`` pointed at a fresh temporary folder for the block (a benchmark that must neither use nor
    touch the user's kept runs and measurements), then put back as it was."""
    before = os.environ.get("SEQLAB_HOME")
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        os.environ["SEQLAB_HOME"] = folder
        try:
            yield folder
        finally:
            if before is None:
                os.environ.pop("SEQLAB_HOME", None)
            else:
                os.environ["SEQLAB_HOME"] = before
