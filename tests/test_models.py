import pytest
import torch

from seqlab.config import RunConfig
from seqlab.errors import ConfigError, IncompatibleError, LengthMismatchError
from seqlab.models import MODELS, build_model, incompatibility
from seqlab.tasks import TASKS, make_task
from seqlab.tasks.parity import Parity
from seqlab.train import Trainer


def model_for(name, task="parity", **flat):
    cfg = RunConfig.from_flat({"model": name, "task": task, "hidden": 16, **flat})
    return build_model(cfg.model, cfg.make_task()), cfg.make_task()


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("task", list(TASKS))
def test_every_compatible_pair_produces_the_right_shapes(model, task):
    t = make_task(task)
    if incompatibility(MODELS[model], t):
        pytest.skip("declared incompatible")
    m, t = model_for(model, task)
    batch = t.sample(4, torch.Generator().manual_seed(0))
    out = m(batch)
    kind = t.spec.output_kind
    expected = {
        "label": (4, t.spec.n_outputs),
        "real": (4,),
        "tokens": (4, t.spec.length, t.spec.n_outputs),
        "sequence": (4, t.spec.target_length, t.spec.n_outputs),
    }
    assert out.pred.shape == expected[kind]
    assert out.embedded.shape[:2] == (4, t.spec.length)
    assert torch.isfinite(t.loss(out.pred, batch))
    info = MODELS[model].info
    assert info.year > 1900 and info.paper and info.equation and info.time(10, 4) > 0


def test_mlp_refuses_another_length_and_says_why():
    cfg = RunConfig.from_flat({"model": "mlp", "task": "parity", "seq_len": 8, "steps": 5})
    trainer = Trainer(cfg)
    trainer.run()
    loss, metrics = trainer.evaluate_at_length(8)
    assert "accuracy" in metrics
    with pytest.raises(LengthMismatchError) as e:
        trainer.evaluate_at_length(16)
    assert "built for 8 input positions and cannot read 16" in str(e.value)


def test_recurrent_models_read_any_length():
    cfg = RunConfig.from_flat({"model": "gru", "task": "parity", "seq_len": 8, "steps": 5})
    trainer = Trainer(cfg)
    trainer.run()
    seen = []
    trainer.model.register_forward_hook(lambda m, args, out: seen.append((args[0], out.pred)))
    loss, metrics = trainer.evaluate_at_length(40)
    ((batch, pred),) = seen
    assert batch.x.shape == (cfg.train.eval_size, 40) and torch.equal(batch.y, batch.x.sum(1) % 2)  # 40-bit parity
    assert metrics["accuracy"] == (pred.argmax(-1) == batch.y).float().mean().item()
    assert loss == pytest.approx(torch.nn.functional.cross_entropy(pred, batch.y).item())


def test_orthogonal_identity_and_forget_bias_inits():
    rnn, _ = model_for("rnn", init="orthogonal")
    w = rnn.rnn.weight_hh_l0
    assert torch.allclose(w @ w.T, torch.eye(16), atol=1e-5)
    irnn, _ = model_for("rnn", init="identity", nonlinearity="relu")
    assert torch.equal(irnn.rnn.weight_hh_l0, torch.eye(16)) and irnn.rnn.bias_hh_l0.abs().sum() == 0
    lstm, _ = model_for("lstm", init="forget_bias", forget_bias=2.0)
    b = lstm.rnn.bias_ih_l0 + lstm.rnn.bias_hh_l0
    assert torch.all(b[16:32] == 2.0) and torch.all(b[:16] == 0) and torch.all(b[32:] == 0)
    glstm, _ = model_for("lstm", init="orthogonal")
    for chunk in glstm.rnn.weight_hh_l0.chunk(4, 0):
        assert torch.allclose(chunk @ chunk.T, torch.eye(16), atol=1e-5)


@pytest.mark.parametrize(
    ("flat", "field"),
    [
        ({"model": "rnn", "init": "identity"}, "model.init"),  # IRNN needs relu
        ({"model": "gru", "init": "forget_bias"}, "model.init"),
        ({"model": "rnn", "nonlinearity": "sigmoid"}, "model.nonlinearity"),
        ({"model": "lstm", "hidden": 0}, "model.hidden"),
        ({"model": "lstm", "hidden": 10**6}, "model.hidden"),
        ({"model": "lstm", "layers": 0}, "model.layers"),
    ],
)
def test_bad_model_settings_name_the_field(flat, field):
    with pytest.raises(ConfigError) as e:
        RunConfig.from_flat({"task": "parity", **flat})
    assert str(e.value).startswith(field)


def test_fixed_length_models_are_refused_on_mixed_length_tasks():
    class MixedParity(Parity):
        name = "mixed-parity"
        variable_length = True

    task = MixedParity(8)
    assert incompatibility(MODELS["mlp"], task)
    assert incompatibility(MODELS["lstm"], task) is None
    cfg = RunConfig.from_flat({"model": "mlp", "task": "parity"})
    with pytest.raises(IncompatibleError, match="fixed input length"):
        build_model(cfg.model, task)
