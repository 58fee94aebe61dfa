"""One reading of a pydantic config field for every front end: the CLI builds its flags from it and the
pages build their widgets from it, so a field's kind, bounds, default and help cannot differ between them.

    spec = field_spec("eval_every", TrainConfig.model_fields["eval_every"])
    spec.kind == "int"; spec.lo == 1; spec.help == "evaluate on held-out data every k steps"

Kinds: ``choice`` (a Literal: a select / a flag with choices), ``int``, ``float``, ``int_list`` (typed as
comma-separated integers in both a text box and a flag), and ``other`` (a front end skips it or handles it
by name).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic_core import PydanticUndefined

from .errors import ConfigError

Kind = Literal["choice", "int", "float", "int_list", "other"]


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: Kind
    default: Any
    help: str
    choices: tuple = ()
    lo: float | None = None
    hi: float | None = None

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")

    @property
    def shown_default(self) -> str:
        """The default as a user types it (a list as ``1,2,4``)."""
        return ",".join(map(str, self.default)) if isinstance(self.default, list | tuple) else str(self.default)

    def parse_list(self, text: str, field: str | None = None) -> list[int]:
        """Comma-separated integers, refused with a message naming ``field`` (default: this field)."""
        try:
            values = [int(v) for v in str(text).split(",") if v.strip()]
        except ValueError:
            raise ConfigError(f"expected comma-separated integers, got {text!r}", field or self.name) from None
        if not values:
            raise ConfigError("needs at least one value", field or self.name)
        return values


def _bound(info, name: str):
    return next((getattr(m, name) for m in info.metadata if getattr(m, name, None) is not None), None)


def field_spec(name: str, info) -> FieldSpec:
    ann = info.annotation
    default = info.default_factory() if info.default_factory is not None else info.default
    default = None if default is PydanticUndefined else default
    kind: Kind = "other"
    if typing.get_origin(ann) is typing.Literal:
        kind = "choice"
    elif ann is int:
        kind = "int"
    elif ann is float:
        kind = "float"
    elif typing.get_origin(ann) is list and typing.get_args(ann) == (int,):
        kind = "int_list"
    return FieldSpec(
        name=name,
        kind=kind,
        default=default,
        help=info.description or "",
        choices=typing.get_args(ann) if kind == "choice" else (),
        lo=_bound(info, "ge"),
        hi=_bound(info, "le"),
    )


def specs(model_cls) -> list[FieldSpec]:
    """Every field of a pydantic model class, in declaration order."""
    return [field_spec(n, i) for n, i in model_cls.model_fields.items()]
