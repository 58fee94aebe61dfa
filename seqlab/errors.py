"""Exceptions with messages a person can act on.

Every error the library raises on purpose is a ``SeqlabError``: the CLI turns it into one line on
stderr and exit code 2, the app shows it next to the control. ``field`` names the setting at fault.
"""

from __future__ import annotations

import difflib


class SeqlabError(ValueError):
    """A bad value or combination, explained. ``field`` is the dotted setting name when known."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class ConfigError(SeqlabError):
    """A configuration value is invalid."""


class IncompatibleError(SeqlabError):
    """A model cannot be trained on a task (e.g. an MLP on variable-length input)."""


class LengthMismatchError(SeqlabError):
    """A fixed-length model was given a sequence of another length."""


class CapabilityError(SeqlabError):
    """A model was asked for something its ``Capabilities`` declare it cannot show (e.g. attention maps
    of an LSTM)."""


class MemoryLimitError(SeqlabError):
    """A run would need more memory than the configured limit."""


def unknown_name(kind: str, name: str, choices, field: str) -> ConfigError:
    """Error for an unknown registry name, suggesting the nearest valid one."""
    choices = sorted(choices)
    near = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    hint = f"did you mean '{near[0]}'? " if near else ""
    return ConfigError(f"unknown {kind} {name!r}; {hint}choose one of: {', '.join(choices)}", field)
