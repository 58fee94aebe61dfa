"""Run configuration: three pydantic models (model, task, train) composed into one ``RunConfig``.

Defaults make the classic demos work; every bad value is rejected with a message naming the
field. ``RunConfig.from_flat`` / ``to_flat`` map to and from the flat ``name=value`` form used by
CLI flags and URL query strings (``to_query`` / ``from_query``).
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError, SeqlabError

MAX_SEQ_LEN = 100_000
MAX_HIDDEN = 8192


# pydantic's wording for a value of the wrong kind, said the way a person would
_PLAIN = {
    "finite_number": "not a finite number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "bool_parsing": "must be true or false",
}


def describe_validation_error(e: ValidationError, prefix: str = "") -> str:
    """One line per pydantic error, e.g. ``train.lr: must be > 0 (got -1.0)``; joined by '; '."""
    parts = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
        loc = f"{prefix}.{loc}" if prefix and loc else (loc or prefix)
        msg = _PLAIN.get(err["type"]) or err["msg"].removeprefix("Value error, ")
        if err["type"] == "too_short":
            n = err["ctx"]["min_length"]
            msg = f"needs at least {n} value{'s' if n > 1 else ''}"
        msg = msg.replace("Input should be ", "must be ").replace("greater than or equal to", "≥")
        msg = msg.replace("less than or equal to", "≤").replace("greater than", ">").replace("less than", "<")
        got = err.get("input")
        shown = "" if isinstance(got, dict) or got is None or repr(got) in msg else f" (got {got!r})"
        parts.append(f"{loc}: {msg}{shown}" if loc else msg)
    return "; ".join(parts)


class _Strict(BaseModel):
    # nan passes every bound check (all comparisons are false), so it must be refused as such
    model_config = ConfigDict(extra="forbid", validate_assignment=False, allow_inf_nan=False)


class ModelConfig(_Strict):
    name: str = "lstm"
    hidden: int = Field(64, ge=1, le=MAX_HIDDEN, description="hidden size d")
    layers: int = Field(1, ge=1, le=16, description="stacked layers")
    embed_dim: int | None = Field(None, ge=1, le=MAX_HIDDEN, description="token embedding size (default: hidden)")
    init: str = Field("auto", description="weight initialisation scheme ('auto' = the model's recommended one)")
    options: dict[str, Any] = Field(default_factory=dict, description="model-specific options")


class TaskConfig(_Strict):
    name: str = "adding"
    seq_len: int | None = Field(None, ge=1, le=MAX_SEQ_LEN, description="task length parameter (default: task's)")
    options: dict[str, Any] = Field(default_factory=dict, description="task-specific options")


class Target(_Strict):
    """Stop when the held-out ``metric`` reaches ``value`` (≥ for accuracies, ≤ for losses/MSE)."""

    metric: str
    value: float
    higher_is_better: bool

    def reached(self, metrics: dict[str, float]) -> bool:
        v = metrics.get(self.metric)
        if v is None or math.isnan(v):
            return False
        return v >= self.value if self.higher_is_better else v <= self.value

    def __str__(self) -> str:
        return f"{self.metric}{'>=' if self.higher_is_better else '<='}{self.value:g}"


_UNTIL = re.compile(r"^\s*([a-z_]+)\s*(>=|<=|=)\s*([-+0-9.eE]+)\s*$")


def parse_until(text: str) -> Target:
    from .tasks.base import LOWER_IS_BETTER, METRIC_RANGES

    m = _UNTIL.match(text)
    if not m:
        raise ConfigError(f"expected METRIC=VALUE such as accuracy=0.99 or mse=0.01, got {text!r}", "train.until")
    metric, op, raw = m.groups()
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{raw!r} is not a number (expected METRIC=VALUE)", "train.until") from None
    if not math.isfinite(value):
        raise ConfigError("the target value must be finite", "train.until")
    lo, hi = METRIC_RANGES.get(metric, (-math.inf, math.inf))
    if not lo <= value <= hi:
        span = f"[{lo:g}, {hi:g}]" if math.isfinite(hi) else f"[{lo:g}, ∞)"
        raise ConfigError(f"{metric} lies in {span}, so a target of {value:g} can never be met", "train.until")
    higher = metric not in LOWER_IS_BETTER if op == "=" else op == ">="
    return Target(metric=metric, value=value, higher_is_better=higher)


class TrainConfig(_Strict):
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float | None = Field(None, gt=0, le=10, allow_inf_nan=False, description="learning rate (default: the model's)")
    batch_size: int = Field(32, ge=1, le=65_536)
    steps: int = Field(3000, ge=1, le=10_000_000, description="maximum optimizer steps")
    # clipping the global gradient norm keeps exploding RNN gradients from ending demos early
    # (Pascanu, Mikolov & Bengio 2013); 0 disables it
    clip: float = Field(1.0, ge=0, le=1e6, description="gradient-norm clip (0 = off)")
    time_budget: float | None = Field(None, gt=0, le=7 * 24 * 3600, description="wall-clock limit, seconds")
    until: str | None = Field(None, description="stop target METRIC=VALUE, e.g. accuracy=0.99")
    eval_every: int = Field(50, ge=1, le=1_000_000, description="held-out evaluation interval, steps")
    eval_size: int = Field(256, ge=1, le=65_536, description="held-out batch size")
    log_every: int = Field(1, ge=1, le=1_000_000, description="record interval for loss/grad norms, steps")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # torch's thread count is process-wide: the CLI applies this once at start, the app uses SEQLAB_THREADS
    threads: int = Field(1, ge=1, le=256, description="torch CPU threads (1 is fastest on a shared 2-core box)")
    max_memory_mb: float = Field(
        2048,
        gt=0,
        allow_inf_nan=False,
        description="refuse runs whose estimated memory (weights, gradients, optimizer, activations) exceeds this",
    )

    @field_validator("until")
    @classmethod
    def _until_syntax(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        try:
            return str(parse_until(v))
        except ConfigError as e:
            raise ValueError(str(e).removeprefix("train.until: ")) from None

    @property
    def target(self) -> Target | None:
        return parse_until(self.until) if self.until else None


class RunConfig(_Strict):
    model: ModelConfig = Field(default_factory=ModelConfig)
    task: TaskConfig = Field(default_factory=TaskConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)

    @model_validator(mode="after")
    def _resolve(self) -> RunConfig:
        """Fill registry defaults and check everything that needs model and task together."""
        from .models.memory import training_memory
        from .models.registry import check_compatible, model_class
        from .tasks.registry import make_task

        try:
            task = make_task(self.task.name, self.task.seq_len, self.task.options)
            self.task.seq_len = task.seq_len
            self.task.options = task.options.model_dump()
            cls = model_class(self.model.name)
            self.model.options = cls.validate_options(self.model.options)
            self.model.init = cls.resolve_init(self.model.init, self.model.options)
            cls.check(self.model)
            if self.train.lr is None:
                self.train.lr = cls.default_lr
            check_compatible(cls, task)
            if self.train.until:
                t = self.train.target
                allowed = ("loss", *task.metrics)
                if t.metric not in allowed:
                    raise ConfigError(
                        f"task '{task.name}' reports {', '.join(allowed)}; cannot stop on '{t.metric}'",
                        "train.until",
                    )
            training_memory(self.model, task, self.train).check(self.train.max_memory_mb, "train.max_memory_mb")
        except SeqlabError as e:
            raise ValueError(str(e)) from None
        return self

    # -- construction with readable errors ------------------------------------------------
    @classmethod
    def build(cls, data: dict | None = None) -> RunConfig:
        """Validate a nested dict; raise ``ConfigError`` (naming the field) instead of pydantic's error."""
        try:
            return cls.model_validate(data or {})
        except ValidationError as e:
            raise _config_error(e) from None

    def make_task(self):
        from .tasks.registry import make_task

        return make_task(self.task.name, self.task.seq_len, self.task.options)

    # -- flat form (CLI flags, URL query) ---------------------------------------------------
    def to_flat(self) -> dict[str, Any]:
        flat: dict[str, Any] = {"model": self.model.name, "task": self.task.name, "seq_len": self.task.seq_len}
        flat.update({k: v for k, v in self.model.model_dump(exclude={"name", "options"}).items()})
        flat.update(self.model.options)
        flat.update(self.task.options)
        flat.update(self.train.model_dump())
        return flat

    @classmethod
    def from_flat(cls, flat: dict[str, Any]) -> RunConfig:
        """Build from ``name=value`` pairs; unknown names are errors."""
        return cls.build(nest_flat(flat))

    def to_query(self) -> dict[str, str]:
        """Non-default settings as strings, for a shareable URL."""
        default = RunConfig.build({"model": {"name": self.model.name}, "task": {"name": self.task.name}}).to_flat()
        out = {"model": self.model.name, "task": self.task.name}
        for k, v in self.to_flat().items():
            if v is not None and v != default.get(k):
                out[k] = str(v)
        return out

    @classmethod
    def from_query(cls, params: dict[str, str], base: RunConfig | None = None) -> tuple[RunConfig, list[str]]:
        """Parse a query string leniently: bad or unknown values fall back, each with a note."""
        notes: list[str] = []
        flat = (base or RunConfig()).to_flat()
        for name in ("model", "task"):
            if name in params and params[name] != flat[name]:
                try:
                    flat = RunConfig.from_flat(_switch(flat, **{name: params[name]})).to_flat()
                except SeqlabError as e:
                    notes.append(f"ignored {name}={params[name]!r}: {e}")
        settings = [k for k in params if k not in ("model", "task")]
        for k in [k for k in settings if k not in flat]:
            notes.append(
                f"ignored {k!r}: not a setting of model {flat['model']!r} or task {flat['task']!r}; {_owners(k)}"
            )
        failed: dict[str, str] = {}
        for key in [k for k in settings if k in flat]:
            flat = _apply_query_value(flat, key, params[key], failed)
        for key in list(failed):  # refused only for want of a later value (corpus=text before its text_id)?
            flat = _apply_query_value(flat, key, params[key], failed)
        return RunConfig.from_flat(flat), notes + list(failed.values())


def _apply_query_value(flat: dict[str, Any], key: str, raw: str, failed: dict[str, str]) -> dict[str, Any]:
    """``flat`` with ``key`` set to ``raw`` if the result is valid; else unchanged, with the reason in ``failed``."""
    try:
        flat = RunConfig.from_flat(dict(flat, **{key: None if raw in ("", "None") else raw})).to_flat()
        failed.pop(key, None)
    except SeqlabError as e:
        failed[key] = f"ignored {key}={raw!r}: {e}"
    return flat


MODEL_FIELDS = ("hidden", "layers", "embed_dim", "init")
TRAIN_FIELDS = tuple(TrainConfig.model_fields)


def _switch(flat: dict[str, Any], **change: str) -> dict[str, Any]:
    """Flat settings with another model and/or task: options of the old one (and, for a new
    task, its seq_len) are dropped so the new one's defaults apply."""
    keep = {"model", "task", *MODEL_FIELDS, *TRAIN_FIELDS}
    if "model" in change:
        keep -= {"init", "lr"}  # init schemes and recommended learning rates are per model
    if "task" not in change:
        keep |= {"seq_len", *flat_task_options(flat["task"])}
    if "model" not in change:
        keep |= set(flat_model_options(flat["model"]))
    return {**{k: v for k, v in flat.items() if k in keep}, **change}


def flat_model_options(name: str) -> tuple[str, ...]:
    from .models.registry import model_class

    return tuple(model_class(name).Options.model_fields)


def flat_task_options(name: str) -> tuple[str, ...]:
    from .tasks.registry import task_class

    return tuple(task_class(name).Options.model_fields)


def nest_flat(flat: dict[str, Any]) -> dict[str, Any]:
    """Sort flat settings into model / task / train; unknown names raise ConfigError."""
    from .models.registry import model_class
    from .tasks.registry import task_class

    model_name = flat.get("model", ModelConfig().name)
    task_name = flat.get("task", TaskConfig().name)
    m_cls, t_cls = model_class(model_name), task_class(task_name)
    nested: dict[str, Any] = {
        "model": {"name": model_name, "options": {}},
        "task": {"name": task_name, "options": {}},
        "train": {},
    }
    for key, value in flat.items():
        if key in ("model", "task") or value is None:
            continue
        if key == "seq_len":
            nested["task"]["seq_len"] = value
        elif key in MODEL_FIELDS:
            nested["model"][key] = value
        elif key in m_cls.Options.model_fields:
            nested["model"]["options"][key] = value
        elif key in t_cls.Options.model_fields:
            nested["task"]["options"][key] = value
        elif key in TRAIN_FIELDS:
            nested["train"][key] = value
        elif not key:  # e.g. "?=1" in a URL: there is no name to report as the field
            raise ConfigError("a setting has an empty name", "settings")
        else:
            raise ConfigError(f"not a setting of model '{model_name}' or task '{task_name}'; {_owners(key)}", key)
    return nested


def _owners(key: str) -> str:
    """Where a setting that the chosen model and task lack does belong (or the nearest real name)."""
    import difflib

    from .models.registry import MODELS
    from .tasks.registry import TASKS

    owners = [n for n, c in {**MODELS, **TASKS}.items() if key in c.Options.model_fields]
    if owners:
        return f"it belongs to {', '.join(owners)}"
    known = {
        *MODEL_FIELDS,
        *TRAIN_FIELDS,
        "seq_len",
        *(f for c in (*MODELS.values(), *TASKS.values()) for f in c.Options.model_fields),
    }
    near = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.75)
    return f"did you mean {near[0]!r}?" if near else "see `seqlab list`"


def _config_error(e: ValidationError) -> ConfigError:
    # errors raised inside RunConfig._resolve already carry "field: message"
    text = describe_validation_error(e)
    text = re.sub(r"^: ", "", text)
    m = re.match(r"^([a-z_.]+): (.*)$", text, re.S)
    if m:
        return ConfigError(m.group(2), m.group(1))
    return ConfigError(text)
