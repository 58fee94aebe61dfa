"""What every command shares: the parser that reports bad input as one line, the run flags built from the
configs and registries (so a new model's options appear by themselves), the progress bar, and what Ctrl-C
means."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..config import ModelConfig, TrainConfig
from ..errors import SeqlabError
from ..models.registry import MODELS
from ..schema import specs
from ..tasks.registry import TASKS
from ..train.observers import Observer

MAX_READ = 2_000_001  # one byte over the upload limit, so an oversized file is reported as such


class UsageError(SeqlabError):
    """A malformed command line."""


class Parser(argparse.ArgumentParser):
    """argparse that reports bad input as one line and exit code 2, and takes flags only as spelled (an
    abbreviation such as ``--seed`` for ``--seeds`` would silently mean another setting)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise UsageError(message)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_json_flag(p: argparse.ArgumentParser, quiet: str | None = None) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last stdout line")
    if quiet:
        p.add_argument("--quiet", action="store_true", help=quiet)


def option_fields() -> dict[str, tuple[str, list[str]]]:
    """flat option name -> (help text, the models/tasks that have it) for every model and task option."""
    out: dict[str, tuple[str, list[str]]] = {}
    for registry in (MODELS, TASKS):
        for name, cls in registry.items():
            for field, info in cls.Options.model_fields.items():
                help_text, users = out.get(field, (info.description or "", []))
                out[field] = (help_text, [*users, name])
    return out


def add_run_flags(p: argparse.ArgumentParser, with_seed: bool = True, required: bool = True) -> None:
    """``required=False`` where the model and task may come from elsewhere (a sweep's grid)."""
    p.add_argument("--model", required=required, help=f"one of: {', '.join(MODELS)}")
    p.add_argument("--task", required=required, help=f"one of: {', '.join(TASKS)}")
    p.add_argument("--seq-len", dest="seq_len", help="task length (see `seqlab list` for its meaning per task)")
    for name in ("hidden", "layers", "embed_dim", "init"):
        p.add_argument(flag(name), dest=name, help=ModelConfig.model_fields[name].description)
    for spec in specs(TrainConfig):
        if spec.name == "seed" and not with_seed:
            continue
        p.add_argument(flag(spec.name), dest=spec.name, help=f"{spec.help or spec.name} (default {spec.shown_default})")
    for name, (help_text, users) in option_fields().items():
        p.add_argument(flag(name), dest=name, help=f"{help_text} [{', '.join(users)}]")


def flat_from_args(args: argparse.Namespace, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    keys = {"model", "task", "seq_len", "hidden", "layers", "embed_dim", "init", *TrainConfig.model_fields}
    keys |= set(option_fields())
    return {k: getattr(args, k) for k in keys if k not in skip and getattr(args, k, None) is not None}


def int_list(text: str, field: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"expected comma-separated integers, got {text!r}", field) from None
    if not values:
        raise UsageError("needs at least one value", field)
    return values


def one_line(text: str) -> str:
    """``text`` with control characters escaped, so an echoed value cannot split an error line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def warn(problems: list[str]) -> None:
    for p in problems:
        print(f"seqlab: warning: {one_line(p)}", file=sys.stderr)


def check_writable(path: str | None, field: str = "out") -> None:
    if path:
        try:
            with open(path, "a"):
                pass
        except OSError as e:
            raise UsageError(f"cannot write --{field} file {path!r}: {e.strerror}", field) from None


class Progress(Observer):
    """A progress bar on stderr: redrawn in place on a terminal, a line per 10 % otherwise."""

    def __init__(self, stream=None, width: int = 28):
        self.stream, self.width = stream or sys.stderr, width
        self.tty = self.stream.isatty()
        self.last_draw = 0.0
        self.next_pct = 10
        self.metrics = ""

    def on_start(self, trainer) -> None:
        self.total = trainer.config.train.steps
        self.name = f"{trainer.config.model.name} on {trainer.config.task.name}"

    def on_eval(self, record) -> None:
        self.metrics = " ".join(f"{k} {v:.3g}" for k, v in record.metrics.items())

    def on_step(self, record) -> None:
        now = time.monotonic()
        pct = 100 * record.step / self.total
        line = (
            f"{self.name} step {record.step}/{self.total} loss {record.loss:.4g} {self.metrics} {record.elapsed:.1f}s"
        )
        if self.tty and now - self.last_draw > 0.1:
            filled = int(self.width * record.step / self.total)
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r[{bar}] {line}\x1b[K")
            self.stream.flush()
            self.last_draw = now
        elif not self.tty and pct >= self.next_pct:
            self.stream.write(f"[{pct:3.0f}%] {line}\n")
            self.next_pct = 10 * (int(pct) // 10 + 1)

    def on_end(self, result) -> None:
        if self.tty:
            self.stream.write("\n")
        self.stream.write(f"{result.status} after {result.steps} steps in {result.seconds:.1f}s\n")
        self.stream.flush()


def progress_bars(args: argparse.Namespace):
    """observers for a run named ``label``: a progress bar unless ``--quiet``."""
    return lambda label=None: [] if getattr(args, "quiet", False) else [Progress()]


@contextlib.contextmanager
def stopped_by_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Within: Ctrl-C (SIGINT) and ``kill``/``timeout`` (SIGTERM) call ``stop``, so the work ends as
    ``stopped``, keeps and prints what it did, and exits 0. SIGTERM's default ends the process at once:
    pool workers left training as orphans and the pool's semaphores reported leaked."""
    previous = {s: signal.signal(s, lambda *_: stop()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
