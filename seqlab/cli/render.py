"""The one renderer: a command returns its result; this prints it — one JSON line with ``--json``
(the last stdout line, the scripting contract), else the command's own text view of the same result.
Commands never print their result themselves, so the two views cannot drift apart; progress goes to
stderr while they run."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from ..train.records import clean_json


def as_json(out: Any) -> Any:
    """Plain data as it is; a typed result (a dataclass of the library) through its ``to_json``."""
    return clean_json(out if isinstance(out, dict | list) else out.to_json())


def render(args: argparse.Namespace, out: Any, show: Callable[[Any, argparse.Namespace], None] | None) -> None:
    if getattr(args, "json", False):
        print(json.dumps(as_json(out)))
    elif show is not None:
        show(out, args)


def cell(v, width: int, scale: float = 1.0, fmt: str = ".2f") -> str:
    """A right-aligned table cell; a dash for a value that was not measured."""
    return f"{'–':>{width}}" if v is None else f"{v / scale:>{width}{fmt}}"
