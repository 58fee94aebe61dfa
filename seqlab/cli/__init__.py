"""``python -m seqlab``: everything the app shows, scriptable.

One module per command, each with ``register(sub)`` (its flags) and ``run(args)`` (its result); the one
renderer (``render.py``) prints that result as text or, with ``--json``, as one JSON object on the last
stdout line. Bad input exits with code 2 and one line on stderr naming the field; no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..config import RunConfig
from ..errors import SeqlabError
from . import bench, catalog, classics, complexity, experiments, export, record, runs, search, sweep, train
from .common import Parser, UsageError, one_line
from .render import render

COMMANDS = (catalog, train, runs, record, sweep, export, bench, complexity, search, experiments, classics)

__all__ = ["COMMANDS", "UsageError", "build_parser", "main"]


def build_parser() -> Parser:
    p = Parser(prog="seqlab", description="Train the history of neural sequence models and look inside.")
    # read by load_plugins before parsing (anywhere on the line); declared here for --help
    p.add_argument(
        "--plugin",
        metavar="FILE",
        action="append",
        help="register the SeqModel(s) defined in FILE (repeatable; also $SEQLAB_PLUGINS=a.py:b.py)",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.register(sub)
    return p


def _quiet_stdout() -> None:
    """Point stdout at /dev/null: the reader is gone, and the flush at exit must not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # not a real file (e.g. captured by a test)
        pass


def set_process_threads(args: argparse.Namespace) -> None:
    """torch's intra-op threads are process-wide, so the CLI (the process's owner) sets them once,
    before any run, from ``--threads`` where the command has it (runs never set them: train/live.py)."""
    import torch

    threads = getattr(args, "threads", None)
    torch.set_num_threads(RunConfig.from_flat({} if threads is None else {"threads": threads}).train.threads)


def take_plugins(argv: list[str]) -> tuple[list[str], list[str]]:
    """``--plugin FILE`` / ``--plugin=FILE`` anywhere on the line (before or after the command) → (the files,
    the rest). Taken out before parsing because the parser's flags are built from the models, plugins' too."""
    files, rest, it = [], [], iter(argv)
    for a in it:
        if a == "--plugin":
            value = next(it, None)
            if value is None:
                raise UsageError("argument --plugin: expected one argument (a .py file defining a SeqModel)")
            files.append(value)
        elif a.startswith("--plugin="):
            files.append(a.removeprefix("--plugin="))
        else:
            rest.append(a)
    return files, rest


def load_plugins(argv: list[str]) -> list[str]:
    """Register the models of $SEQLAB_PLUGINS and every ``--plugin`` file; the first that fails ends the command."""
    from ..plugins import env_paths, load

    files, rest = take_plugins(argv)
    for path in [*env_paths(), *files]:
        load(path)
    return rest


def main(argv: list[str] | None = None) -> int:
    try:
        argv = runs.glue_descending(load_plugins(sys.argv[1:] if argv is None else list(argv)))
        args = build_parser().parse_args(argv)
        set_process_threads(args)
        render(args, args.func(args), args.view)
    except SeqlabError as e:
        print(f"seqlab: error: {one_line(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Ctrl-C in a command that has no Stop of its own (train, sweep and search stop and report instead:
        # cli.common.stopped_by_signals): the shell's convention, 128 + SIGINT, and no traceback
        print("seqlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `seqlab runs --show ID | head`: the reader closed the pipe; stop quietly, with the exit code a
        # process killed by SIGPIPE has (128 + 13), as `yes | head` does
        _quiet_stdout()
        return 141
    return 0
