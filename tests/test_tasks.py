import math

import pytest
import torch

from seqlab.errors import ConfigError
from seqlab.tasks import IGNORE, TASKS, make_task


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", list(TASKS))
def test_batches_are_deterministic_and_match_the_spec(name):
    task = make_task(name)
    a, b, c = task.sample(16, gen(1)), task.sample(16, gen(1)), task.sample(16, gen(2))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)
    spec = task.spec
    assert a.x.shape[:2] == (16, spec.length)
    if spec.input_kind == "tokens":
        assert a.x.min() >= 0 and a.x.max() < spec.input_size
    if spec.output_kind == "tokens":
        scored = a.y[a.y != IGNORE]
        assert scored.numel() > 0 and scored.min() >= 0 and scored.max() < spec.n_outputs


def test_adding_target_is_the_sum_of_the_two_marked_values():
    batch = make_task("adding", 30).sample(64, gen())
    values, marks = batch.x[..., 0], batch.x[..., 1]
    assert torch.all(marks.sum(1) == 2)
    assert torch.all(marks[:, :15].sum(1) == 1)  # one marker in each half
    assert torch.allclose((values * marks).sum(1), batch.y)


def test_copy_targets_are_the_symbols_after_the_delay():
    task = make_task("copy", 4, {"delay": 7, "vocab_size": 5})
    batch = task.sample(8, gen())
    assert batch.x.shape[1] == 2 * 4 + 7
    assert torch.all(batch.x[:, 4 : 4 + 7] == 0)  # blanks
    assert torch.all(batch.x[:, 11] == 6)  # marker
    assert torch.equal(batch.y[:, 11:], batch.x[:, :4] - 1)
    assert torch.all(batch.y[:, :11] == IGNORE)


def test_parity_recall_reverse_sort_targets():
    p = make_task("parity", 9).sample(32, gen())
    assert torch.equal(p.y, p.x.sum(1) % 2)

    r_task = make_task("recall", 5, {"key_vocab": 9, "value_vocab": 4, "queries": 3})
    r = r_task.sample(32, gen())
    for x, y in zip(r.x, r.y, strict=True):
        pairs = {int(x[2 * i]): int(x[2 * i + 1]) - 9 for i in range(5)}
        assert len(pairs) == 5  # keys distinct
        for j in range(3):
            assert int(y[11 + j]) == pairs[int(x[11 + j])]

    rev = make_task("reverse", 6).sample(8, gen())
    assert torch.equal(rev.y[:, 6:], rev.x[:, :6].flip(1) - 1)
    srt = make_task("sort", 6).sample(8, gen())
    assert torch.equal(srt.y[:, 6:], srt.x[:, :6].sort(1).values - 1)


def test_adding_baseline_is_the_variance_of_the_target():
    y = make_task("adding", 20).sample(200_000, gen()).y
    assert abs(((y - 1.0) ** 2).mean().item() - make_task("adding").baseline().loss) < 0.003


def test_sort_baseline_matches_the_empirical_blind_predictor():
    task = make_task("sort", 5, {"vocab_size": 4})
    batch = task.sample(100_000, gen())
    y = batch.y[:, 5:]  # (B, L)
    probs = torch.stack([torch.bincount(y[:, k], minlength=4) for k in range(5)]).float() / y.shape[0]
    entropy = -(probs * probs.clamp_min(1e-12).log()).sum(1).mean().item()
    base = task.baseline()
    assert abs(base.loss - entropy) < 0.01
    assert abs(base.metrics["accuracy"] - probs.max(1).values.mean().item()) < 0.01
    assert base.loss < math.log(4)  # sorting makes positions predictable without reading


@pytest.mark.parametrize(
    ("name", "seq_len", "options", "field"),
    [
        ("copy", 5, {"delay": -1}, "task.delay"),
        ("copy", 5, {"vocab_size": 1}, "task.vocab_size"),
        ("copy", 5, {"color": 3}, "task.color"),
        ("recall", 20, {"key_vocab": 8}, "task.seq_len"),
        ("adding", 1, {}, "task.seq_len"),
    ],
)
def test_bad_task_options_name_the_field(name, seq_len, options, field):
    with pytest.raises(ConfigError) as e:
        make_task(name, seq_len, options)
    assert str(e.value).startswith(field)


def test_unknown_task_suggests_the_nearest_name():
    with pytest.raises(ConfigError, match="did you mean 'parity'"):
        make_task("parrity")
