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


def test_gate_statistics_are_fractions_per_time_step():
    m, task, batch = tiny("lstm")
    stats = hidden_grads(m, task, batch)["gates"]
    assert set(stats) == {"input", "forget", "output"}
    T = task.spec.length
    for g in stats.values():
        assert len(g["mean"]) == T and all(0 <= v <= 1 for v in g["mean"] + g["saturated"])


def test_probes_record_during_training_and_skip_models_without_a_cell():
    cfg = RunConfig.from_flat({"model": "gru", "task": "parity", "steps": 40, "hidden": 16})
    probe, params = HiddenGradProbe(every=10), ParamGradNorms(every=20)
    Trainer(cfg, [probe, params]).run()
    recs = probe.snapshot()
    assert [r["step"] for r in recs] == [10, 20, 30, 40] and len(recs[0]["dL_dh"]) == 10
    names = {r["param"] for r in params.snapshot()}
    assert "rnn.weight_hh_l0" in names and all(r["norm"] >= 0 for r in params.snapshot())
    gpt = HiddenGradProbe(every=5)
    Trainer(RunConfig.from_flat({"model": "gpt", "task": "parity", "steps": 10}), [gpt]).run()
    assert gpt.snapshot() == []
