"""Properties over generated inputs (hypothesis, derandomized so every run checks the same examples):
config parsing either builds a RunConfig or raises a ConfigError naming a field; every task generator
makes batches of its declared shape and range, the same for the same seed; a URL query never raises."""

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqlab.config import MODEL_FIELDS, TRAIN_FIELDS, RunConfig
from seqlab.errors import ConfigError
from seqlab.models.registry import MODELS, incompatibility
from seqlab.tasks.base import IGNORE
from seqlab.tasks.registry import TASKS, make_task

FAST = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
OPTIONS = sorted({f for reg in (MODELS, TASKS) for cls in reg.values() for f in cls.Options.model_fields})
KEYS = ["model", "task", "seq_len", *MODEL_FIELDS, *TRAIN_FIELDS, *OPTIONS]
NAMES = st.sampled_from(sorted(MODELS)) | st.sampled_from(sorted(TASKS)) | st.text(max_size=8)
# half of the draws are values a setting could well have, so that many examples build a config
PLAUSIBLE = st.integers(1, 64) | st.floats(0.001, 1.0) | st.sampled_from(["8", "0.01", "sgd", "loss=0.5"])
VALUES = (
    PLAUSIBLE
    | PLAUSIBLE
    | PLAUSIBLE
    | st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["0", "-1", "1e9", "nan", "inf", "1.5", "", "adam", "auto", "accuracy=2", "mse=-1"])
    | st.lists(st.integers(), max_size=2)
)


PAIRS = [(m, t) for m, cls in MODELS.items() for t in TASKS if incompatibility(cls, make_task(t)) is None]


def _keys_of(model: str, task: str) -> list[str]:
    return [
        "seq_len",
        *MODEL_FIELDS,
        *TRAIN_FIELDS,
        *MODELS[model].Options.model_fields,
        *TASKS[task].Options.model_fields,
    ]


@FAST
@given(pair=st.sampled_from(PAIRS) | st.tuples(NAMES, NAMES), data=st.data())
def test_any_flat_settings_give_a_config_or_a_config_error_naming_a_field(pair, data):
    model, task = pair
    keys = st.sampled_from(_keys_of(model, task)) if pair in PAIRS else st.sampled_from(KEYS)
    rest = data.draw(st.dictionaries(keys, VALUES, max_size=3) | st.dictionaries(st.text(max_size=6), VALUES))
    flat = {**rest, "model": model, "task": task}
    try:
        cfg = RunConfig.from_flat(flat)
    except ConfigError as e:
        assert e.field, f"no field named in {e!r} for {flat!r}"
        return
    assert cfg.model.name == model and cfg.task.name == task


QUERY_KEYS = st.sampled_from(KEYS) | st.text(max_size=6)


@FAST
@given(query=st.dictionaries(QUERY_KEYS, st.text(max_size=12) | st.sampled_from(["nan", "-1", "1e400", "None"])))
def test_any_url_query_gives_settings_and_notes_never_an_exception(query):
    cfg, notes = RunConfig.from_query(query, base=RunConfig.from_flat({}))
    assert isinstance(cfg, RunConfig) and all(isinstance(n, str) and n for n in notes)
    # every value the query asked for either took effect or has a note saying why not
    flat = cfg.to_flat()
    for key, raw in query.items():
        if key in ("model", "task") or str(flat.get(key)) == raw:
            continue
        assert any(repr(key) in n or f"{key}=" in n for n in notes) or key not in flat or raw in ("", "None")


def _check_batch(task, batch, size):
    spec = task.spec
    assert batch.x.shape[0] == size == batch.y.shape[0]
    if spec.input_kind == "tokens":
        assert batch.x.dtype == torch.long and batch.x.shape == (size, spec.length)
        assert batch.x.min() >= 0 and batch.x.max() < spec.input_size
    else:
        assert batch.x.shape == (size, spec.length, spec.input_size) and torch.isfinite(batch.x).all()
    if spec.output_kind == "real":
        assert batch.y.shape == (size,) and torch.isfinite(batch.y).all()
        return
    scored = batch.y[batch.y != IGNORE]
    assert scored.numel() > 0 and scored.min() >= 0 and scored.max() < spec.n_outputs
    if spec.output_kind == "label":
        assert batch.y.shape == (size,)
    elif spec.output_kind == "tokens":
        assert batch.y.shape == (size, spec.length)
    else:  # sequence
        assert batch.y.shape == (size, spec.target_length) and batch.y_in.shape == batch.y.shape
        assert (batch.y == spec.eos).sum(1).eq(1).all()  # exactly one end token per target
    if batch.x_lengths is not None:
        assert (batch.x_lengths >= 1).all() and (batch.x_lengths <= spec.length).all()


@pytest.mark.parametrize("name", sorted(TASKS))
@settings(max_examples=12, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1), size=st.integers(1, 9))
def test_every_task_draws_batches_of_its_declared_shape_and_range_the_same_per_seed(name, seed, size):
    task = make_task(name)
    a = task.sample(size, torch.Generator().manual_seed(seed))
    b = task.sample(size, torch.Generator().manual_seed(seed))
    _check_batch(task, a, size)
    for u, v in zip((a.x, a.y, a.x_lengths, a.y_in), (b.x, b.y, b.x_lengths, b.y_in), strict=True):
        assert (u is None and v is None) or torch.equal(u, v)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_label_of_a_task_is_drawn_given_enough_draws(name):
    task = make_task(name)
    spec = task.spec
    batch = task.sample(2000, torch.Generator().manual_seed(7))
    if spec.output_kind == "real":
        assert batch.y.std() > 0  # not a constant target
        return
    drawn = set(batch.y[batch.y != IGNORE].unique().tolist())
    missing = set(range(spec.n_outputs)) - drawn
    assert not missing, f"{name}: classes never drawn in 2000 examples: {sorted(missing)[:10]}"
    assert math.isfinite(task.baseline().loss)
