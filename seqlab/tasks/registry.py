"""Every task, by name. Adding a task = one file + one line here."""

from __future__ import annotations

from ..errors import ConfigError, unknown_name
from .adding import Adding
from .base import Task
from .chars import Chars
from .copy import Copy
from .incontext import FewShot
from .language import LanguageID, LanguageModel, MaskedLM
from .order import Reverse, Sort
from .parity import Parity
from .recall import Recall
from .transduction import Numbers, SeqReverse, SeqSort

TASKS: dict[str, type[Task]] = {
    "adding": Adding,
    "copy": Copy,
    "parity": Parity,
    "recall": Recall,
    "reverse": Reverse,
    "sort": Sort,
    "seq-reverse": SeqReverse,
    "seq-sort": SeqSort,
    "numbers": Numbers,
    "chars": Chars,
    "lm": LanguageModel,
    "mlm": MaskedLM,
    "langid": LanguageID,
    "fewshot": FewShot,
}


def task_class(name: str) -> type[Task]:
    try:
        return TASKS[name]
    except KeyError:
        raise unknown_name("task", name, TASKS, "task.name") from None


def make_task(name: str, seq_len: int | None = None, options: dict | None = None) -> Task:
    """Build and validate a task; bad options raise ConfigError naming the field."""
    from pydantic import ValidationError

    cls = task_class(name)
    try:
        opts = cls.Options.model_validate(options or {})
    except ValidationError as e:
        from ..config import describe_validation_error

        raise ConfigError(describe_validation_error(e, prefix="task")) from None
    task = cls(cls.default_seq_len if seq_len is None else seq_len, opts)
    task.validate()
    return task
