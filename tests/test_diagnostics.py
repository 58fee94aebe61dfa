import math

import pytest
import torch

from seqlab.config import RunConfig
from seqlab.diagnostics.recurrent import HiddenGradProbe, ParamGradNorms, hidden_grads
from seqlab.models import build_model
from seqlab.train import Trainer


def tiny(model, **flat):
    cfg = RunConfig.from_flat({"model": model, "task": "copy", "seq_len": 3, "delay": 5, "hidden": 8, **flat})
    task = cfg.make_task()
    torch.manual_seed(0)
    m = build_model(cfg.model, task).double()
    batch = task.sample(4, torch.Generator().manual_seed(0))
    return m, task, batch


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_unrolled_copy_reproduces_the_fused_forward(model):
    m, _, batch = tiny(model, layers=2)
    x = m.encoder(batch.x)
    fused, _ = m.rnn(x)
    mine, hs, _ = m.unrolled(x)
    assert torch.allclose(fused, mine, rtol=1e-10, atol=1e-12) and len(hs) == x.shape[1]


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_exact_hidden_gradient_matches_a_split_fused_reference(model):
    """Reference: run the fused kernel up to t, make h_t a leaf, continue the fused kernel from it."""
    m, task, batch = tiny(model)
    probe = hidden_grads(m, task, batch)["dL_dh"]
    x = m.encoder(batch.x).detach()
    for t in (0, 4, x.shape[1] - 1):
        first, state = m.rnn(x[:, : t + 1])
        if model == "lstm":
            h_n, c_n = state
            h = h_n[-1].detach().requires_grad_()
            rest, _ = m.rnn(x[:, t + 1 :], (h[None], c_n.detach())) if t + 1 < x.shape[1] else (x[:, :0, :8], None)
        else:
            h = state[-1].detach().requires_grad_()
            rest, _ = m.rnn(x[:, t + 1 :], h[None]) if t + 1 < x.shape[1] else (x[:, :0, :8], None)
        outs = torch.cat([first[:, :t].detach(), h[:, None], rest], 1)
        (g,) = torch.autograd.grad(task.loss(m.head(outs), batch), h)
        assert probe[t] == pytest.approx(g.norm(dim=-1).mean().item(), rel=1e-5)


@pytest.mark.parametrize("bias", [1.0, 5.0])
def test_gate_statistics_sit_near_sigmoid_of_each_gate_bias_at_init(bias):
    """Small initial weights leave each gate near σ(its bias): 0.5 for input and output, σ(b) for forget. Over
    init seeds 0-4 every per-step mean lay within 0.105 of that; a forget bias of 5 (σ = 0.993) saturated every
    forget unit at every step, a bias of 1 at most 6 % of them, and no input or output unit ever saturated."""
    m, task, batch = tiny("lstm", forget_bias=bias)
    stats = hidden_grads(m, task, batch)["gates"]
    T = task.spec.length
    expected = {"input": 0.5, "forget": 1 / (1 + math.exp(-bias)), "output": 0.5}
    assert set(stats) == set(expected)
    for name, g in stats.items():
        assert len(g["mean"]) == len(g["saturated"]) == T
        assert all(abs(v - expected[name]) < 0.2 for v in g["mean"]), (name, g["mean"])
    assert max(stats["input"]["saturated"] + stats["output"]["saturated"]) == 0.0
    forget = stats["forget"]["saturated"]
    assert all(v == 1.0 for v in forget) if bias == 5.0 else max(forget) < 0.25


def test_probes_record_during_training_and_skip_models_without_a_cell():
    cfg = RunConfig.from_flat({"model": "gru", "task": "parity", "steps": 40, "hidden": 16})
    probe, params = HiddenGradProbe(every=10), ParamGradNorms(every=20)
    Trainer(cfg, [probe, params]).run()
    recs = probe.snapshot()
    assert [r["step"] for r in recs] == [10, 20, 30, 40] and len(recs[0]["dL_dh"]) == 10
    names = {r["param"] for r in params.snapshot()}
    assert "rnn.weight_hh_l0" in names
    gpt = HiddenGradProbe(every=5)
    Trainer(RunConfig.from_flat({"model": "gpt", "task": "parity", "steps": 10}), [gpt]).run()
    assert gpt.snapshot() == []


def test_parameter_gradient_norms_are_the_ones_before_clipping():
    # a clip of 0.05 binds (the total norms are 0.32 and 0.14 here); the per-tensor norms must still add up to them
    cfg = RunConfig.from_flat({"model": "gru", "task": "parity", "steps": 40, "hidden": 16, "clip": 0.05})
    params = ParamGradNorms(every=20)
    result = Trainer(cfg, [params]).run()
    for step in (20, 40):
        total = math.sqrt(sum(r["norm"] ** 2 for r in params.snapshot() if r["step"] == step))
        (record,) = [r for r in result.history["train"] if r["step"] == step]
        assert record["grad_norm"] > 0.05 and total == pytest.approx(record["grad_norm"], rel=1e-4)
