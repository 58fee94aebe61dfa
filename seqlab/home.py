"""Where seqlab keeps what outlives a process: ``$SEQLAB_HOME``, default ``~/.seqlab``.

The run database (``seqlab.db``) and the complexity cache live there; nothing else is written outside it.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("SEQLAB_HOME") or "~/.seqlab").expanduser()
