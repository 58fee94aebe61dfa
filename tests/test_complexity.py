import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from seqlab.bench import bare_step
from seqlab.cli import main
from seqlab.complexity.quick import quick_sweep
from seqlab.complexity.sweep import fit_slope, flops, parse_lengths, sweep
from seqlab.config import RunConfig
from seqlab.errors import ConfigError
from seqlab.train import Trainer


def test_sdpa_flop_formula_equals_the_counted_explicit_attention():
    for n in (16, 48):
        cfg = {"model": "gpt", "task": "parity", "seq_len": n, "batch_size": 4, "hidden": 32}
        explicit = Trainer(RunConfig.from_flat({**cfg, "attention": "explicit"}))
        with FlopCounterMode(display=False) as fc:
            bare_step(explicit)
        assert flops("gpt", n, 32, 4) == pytest.approx(fc.get_total_flops(), rel=1e-9)


def test_fused_lstm_flop_formula_equals_an_unrolled_count():
    trainer = Trainer(
        RunConfig.from_flat({"model": "lstm", "task": "parity", "seq_len": 12, "hidden": 16, "batch_size": 4})
    )
    rnn = trainer.model.rnn
    x = torch.randn(4, 12, trainer.model.encoder.dim, requires_grad=True)
    with FlopCounterMode(display=False) as fc:
        h = c = torch.zeros(4, 16)
        for x_t in x.unbind(1):
            gates = F.linear(x_t, rnn.weight_ih_l0, rnn.bias_ih_l0) + F.linear(h, rnn.weight_hh_l0, rnn.bias_hh_l0)
            i, f, g, o = gates.chunk(4, 1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
        h.sum().backward()
    assert trainer.model.uncounted_flops(4) == pytest.approx(fc.get_total_flops(), rel=1e-9)


def test_slopes_land_near_theory_on_a_small_sweep():
    out = sweep(["lstm", "gpt"], [128, 256, 512], d=32, batch_size=2, repeats=1)
    fit = {(f["model"], f["metric"]): f for f in out["fits"]}
    assert fit[("lstm", "flops")]["exponent"] == pytest.approx(1.0, abs=0.05)
    assert fit[("lstm", "activation_bytes")]["exponent"] == pytest.approx(1.0, abs=0.05)  # O(n·d), not O(d)
    assert 1.3 < fit[("gpt", "flops")]["exponent"] <= 2.0  # n² attention on top of n·d² projections
    assert fit[("gpt", "activation_bytes")]["exponent"] == pytest.approx(1.0, abs=0.1)  # fused: no n² matrix kept
    assert {r["model"] for r in out["rows"]} == {"lstm", "gpt"} and len(out["rows"]) == 6


def test_fit_slope_recovers_a_power_law_with_zero_error():
    slope, err = fit_slope([10, 20, 40, 80], [3 * n**1.5 for n in (10, 20, 40, 80)])
    assert slope == pytest.approx(1.5) and err == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("text", ["", "64", "128,64", "64,64,128", "0,10", "a,b"])
def test_bad_length_lists_are_refused(text):
    with pytest.raises(ConfigError) as e:
        parse_lengths(text)
    assert str(e.value).startswith("lengths")


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--lengths", "128,64"], "lengths"),
        (["--models", "lstn"], "model.name"),
        (["--models", "lstm", "--lengths", "1000,90000", "--d", "4096"], "train.max_activation_mb"),
    ],
)
def test_complexity_cli_bad_input_exit_2_naming_the_field(capsys, argv, field):
    assert main(["complexity", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and field in err[0]


def test_quick_sweep_rows_have_theory_through_the_largest_n():
    rows = quick_sweep(("rnn",), (8, 16), 8, 2, 1)
    assert rows[-1]["theory_ms"] == rows[-1]["ms"] and rows[0]["theory_bytes"] == pytest.approx(
        rows[-1]["activation_bytes"] / 2
    )


def test_crossover_interpolates_where_the_quadratic_model_overtakes():
    from seqlab.complexity.sweep import crossover

    rows = [{"model": "rnn", "n": n, "flops": 100.0 * n} for n in (10, 100, 1000)]
    rows += [{"model": "att", "n": n, "flops": float(n * n)} for n in (10, 100, 1000)]
    assert crossover(rows, "rnn", "att") == pytest.approx(100.0)
    assert crossover(rows[:2] + rows[3:5], "rnn", "att") == pytest.approx(100.0)
    assert crossover([r for r in rows if r["n"] < 100], "rnn", "att") is None
