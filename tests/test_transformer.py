import pytest
import torch

from seqlab.config import RunConfig
from seqlab.errors import ConfigError, LengthMismatchError
from seqlab.models import build_model
from seqlab.train import Trainer, train


def built(model="gpt", task="reverse", **flat):
    cfg = RunConfig.from_flat({"model": model, "task": task, "hidden": 16, "heads": 4, "layers": 2, **flat})
    task = cfg.make_task()
    torch.manual_seed(0)
    return build_model(cfg.model, task).eval(), task


def test_gpt_never_lets_a_future_token_change_an_earlier_output():
    m, task = built("gpt", seq_len=6)
    batch = task.sample(4, torch.Generator().manual_seed(0))
    before = m(batch).pred
    changed = batch.x.clone()
    changed[:, 7:] = (changed[:, 7:] + 1) % task.spec.input_size  # every token after position 7
    batch.x = changed
    after = m(batch).pred
    assert torch.allclose(before[:, :7], after[:, :7], atol=1e-6)
    assert not torch.allclose(before[:, 7:], after[:, 7:])


def test_bert_sees_the_future():
    m, task = built("bert", seq_len=6)
    batch = task.sample(4, torch.Generator().manual_seed(0))
    before = m(batch).pred
    batch.x = batch.x.clone()
    batch.x[:, -1] = (batch.x[:, -1] + 1) % task.spec.input_size
    assert not torch.allclose(before[:, 0], m(batch).pred[:, 0])


@pytest.mark.parametrize("model", ["gpt", "bert"])
@pytest.mark.parametrize("pos", ["sinusoidal", "learned", "rope"])
def test_fused_and_explicit_attention_agree_and_weights_are_distributions(model, pos):
    m, task = built(model, pos=pos)
    batch = task.sample(3, torch.Generator().manual_seed(1))
    fused = m(batch, return_attention=False)
    explicit = m(batch, return_attention=True)
    assert "attention" not in fused.extras
    assert torch.allclose(fused.pred, explicit.pred, atol=1e-5)
    maps = explicit.extras["attention"]
    assert len(maps) == 2 and maps[0].shape == (3, 4, task.spec.length, task.spec.length)
    assert torch.allclose(maps[0].sum(-1), torch.ones(3, 4, task.spec.length), atol=1e-6)
    if model == "gpt":
        assert torch.all(maps[1].triu(1) == 0)


def test_transformers_learn_copy_at_length_20_quickly():
    # measured over seeds 0-4: the target is reached at step 150 of 400
    r = train(
        RunConfig.from_flat(
            {
                "model": "gpt",
                "task": "copy",
                "seq_len": 20,
                "delay": 0,
                "layers": 2,
                "steps": 400,
                "eval_every": 50,
                "until": "accuracy=0.99",
            }
        )
    )
    assert r.status == "target_reached" and r.metrics["accuracy"] >= 0.99


@pytest.mark.parametrize(
    ("flat", "field"),
    [
        ({"hidden": 30, "heads": 4}, "model.heads"),
        ({"pos": "alibi"}, "model.pos"),
        ({"heads": 0}, "model.heads"),
        ({"dropout": 1.0}, "model.dropout"),
    ],
)
def test_bad_transformer_settings_name_the_field(flat, field):
    with pytest.raises(ConfigError) as e:
        RunConfig.from_flat({"model": "gpt", "task": "copy", **flat})
    assert str(e.value).startswith(field)


def test_learned_positions_refuse_longer_sequences_sinusoidal_do_not():
    learned = Trainer(
        RunConfig.from_flat({"model": "bert", "task": "parity", "seq_len": 6, "pos": "learned", "steps": 2})
    )
    learned.run()
    with pytest.raises(LengthMismatchError, match="learned positions"):
        learned.evaluate_at_length(12)
    sinus = Trainer(RunConfig.from_flat({"model": "bert", "task": "parity", "seq_len": 6, "steps": 2}))
    sinus.run()
    assert "accuracy" in sinus.evaluate_at_length(12)[1]
