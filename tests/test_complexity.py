import json

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from seqlab.cli import main
from seqlab.complexity.quick import quick_sweep
from seqlab.complexity.sweep import fit_slope, flops, parse_lengths, sweep
from seqlab.config import RunConfig
from seqlab.errors import ConfigError
from seqlab.models.registry import MODELS, model_class
from seqlab.train import Trainer
from seqlab.train.bare import bare_step


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
    assert out.fit("lstm", "flops").exponent == pytest.approx(1.0, abs=0.05)
    assert out.fit("lstm", "activation_bytes").exponent == pytest.approx(1.0, abs=0.05)  # O(n·d), not O(d)
    assert 1.3 < out.fit("gpt", "flops").exponent <= 2.0  # n² attention on top of n·d² projections
    assert out.fit("gpt", "activation_bytes").exponent == pytest.approx(1.0, abs=0.1)  # fused: no n² matrix kept
    assert {r["model"] for r in out.rows} == {"lstm", "gpt"} and len(out.rows) == 6


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
        (["--models", "lstn"], "models: unknown model"),
        (["--models", "lstm", "--lengths", "1000,90000", "--d", "4096"], "train.max_memory_mb"),
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


# -- sequential depth and maximum path length (Vaswani et al. 2017, Table 1) ---------------------------------
def _structure(model, n, **flat):
    from seqlab.complexity.graph import structure

    tr = Trainer(RunConfig.from_flat({"model": model, "task": "parity", "seq_len": n, "hidden": 8, **flat}))
    return structure(tr.model, tr.sample())


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru", "selective-ssm"])
def test_path_length_and_depth_grow_in_proportion_to_n_for_recurrences(model):
    a, b, c = (_structure(model, n, batch_size=1) for n in (8, 16, 32))
    for key in ("max_path_length", "sequential_depth"):
        step = b[key] - a[key]
        assert step >= 8, (key, a, b)  # at least one operation per extra position
        assert c[key] - b[key] == 2 * step  # exactly linear: the same operations per position


@pytest.mark.parametrize("model", ["gpt", "bert", "moe", "ssm"])
def test_path_length_and_depth_do_not_depend_on_n_for_parallel_layers(model):
    a, b = _structure(model, 8, batch_size=1), _structure(model, 64, batch_size=1)
    assert a == b and a["max_path_length"] <= 12, (a, b)


def test_path_length_grows_with_layers_of_attention_but_not_with_n():
    one, two = _structure("gpt", 16, layers=1), _structure("gpt", 16, layers=2)
    assert two["max_path_length"] > one["max_path_length"] and two == _structure("gpt", 48, layers=2)


def test_distances_are_tracked_per_position_not_per_tensor():
    from seqlab.complexity.graph import INF, _Distances

    torch.manual_seed(0)
    w, x = torch.randn(4, 3), torch.randn(1, 5, 3)
    with _Distances() as mode:
        mode.mark(x)
        h = torch.tanh(F.linear(x, w))  # position-wise: position 1 reaches only position 1
        q = F.linear(h, torch.randn(4, 4))
        alpha = (q @ q.transpose(1, 2)).softmax(-1)  # every query reads key 1
        mixed = alpha @ q
        rows = torch.stack(list(h.unbind(1)), 1)
        first, last, moved, read = h[:, 0], h[:, -1], rows[:, -1], mixed[:, -1]
    assert mode.least(last) == INF and mode.least(first) == 2
    assert mode.least(moved) == INF  # moving data keeps per-position distances
    # the shortest way in is through the values: linear, tanh, linear (v_1), αV — not via the scores (+2)
    assert mode.least(read) == 4


def test_a_path_that_does_not_exist_is_an_error_not_a_number():
    from seqlab.complexity.graph import structure
    from seqlab.models.base import SeqModel, SequenceHead

    tr = Trainer(RunConfig.from_flat({"model": "rnn", "task": "parity", "seq_len": 6, "hidden": 8}))
    tr.model.rnn = torch.nn.Identity()  # no recurrence left: the last output cannot see position 1
    tr.model.rnn.forward = lambda x: (x, None)
    tr.model.head = SequenceHead(tr.model.spec, tr.model.encoder.dim)
    from seqlab.models.recurrent import Recurrent

    class Plain(torch.nn.Module):  # not a Recurrent, so it is traced as it runs
        spec = tr.model.spec
        reference_mode = SeqModel.reference_mode

        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, batch):
            return type("Out", (), {"pred": self.m.head(self.m.encoder(batch.x))})()

    assert not isinstance(Plain(tr.model), Recurrent)
    with pytest.raises(RuntimeError, match="does not depend on input position 1"):
        structure(Plain(tr.model), tr.sample())


# -- FLOPs and peak memory counted in one pass ---------------------------------------------------------------
def test_step_counter_counts_matmul_flops_and_the_peak_of_live_tensors():
    from seqlab.complexity.counters import StepCounter

    a = torch.randn(64, 64)
    with StepCounter() as c:
        b = a @ a  # 16 KiB
        d = b @ b  # 16 KiB more: both alive
        del b
        e = d @ d  # b freed first: the peak stays at two matrices
        del d
    assert c.flops == 3 * 2 * 64**3
    assert c.peak == 2 * 64 * 64 * 4 and c.current == 64 * 64 * 4
    assert e.shape == (64, 64)


@pytest.mark.parametrize("model", ["rnn", "gru", "lstm"])
def test_recurrent_flops_are_counted_once_whether_or_not_the_counter_sees_the_kernel(model):
    # the unrolled loop does the same matrix products as the kernel; the counter sees all of them
    tr = Trainer(RunConfig.from_flat({"model": model, "task": "parity", "seq_len": 10, "hidden": 16, "batch_size": 4}))
    batch = tr.sample()
    with FlopCounterMode(display=False) as fc:
        tr.task.loss(tr.model.cell_trace(batch).pred, batch).backward()
    tr.model.zero_grad()
    explicit = fc.get_total_flops()
    measured = flops(model, 10, 16, 4)
    assert measured == pytest.approx(explicit, rel=1e-9)  # not twice (RNN, GRU) and not zero (LSTM)


def test_sweep_rows_carry_every_metric_and_table1_reads_them():
    from seqlab.complexity.sweep import table1

    out = sweep(["rnn", "gpt", "attention-op"], [32, 64, 128], d=16, batch_size=2, repeats=1)
    keys = {"model", "n", "d", "flops", "activation_bytes", "peak_bytes", "ms", "sequential_depth", "max_path_length"}
    assert all(keys <= set(r) for r in out.rows)
    fit = {(f.model, f.metric): f.exponent for f in out.fits}
    assert fit[("rnn", "max_path_length")] == pytest.approx(1.0, abs=0.05)
    assert fit[("gpt", "max_path_length")] == 0.0 and fit[("gpt", "sequential_depth")] == 0.0
    assert fit[("attention-op", "flops")] == pytest.approx(2.0, abs=1e-9)
    assert fit[("attention-op", "activation_bytes")] == pytest.approx(1.0, abs=0.05)  # fused: O(n) saved
    assert fit[("rnn", "peak_bytes")] == pytest.approx(1.0, abs=0.15)
    table = {row["model"]: row for row in table1(out.rows, out.fits)}
    assert table["rnn"]["max path ∝ n^"] == pytest.approx(1.0, abs=0.05) and table["gpt"]["max path ∝ n^"] == 0.0


def test_sweep_measures_only_the_chosen_metrics():
    out = sweep(["lstm"], [16, 32], d=8, batch_size=2, repeats=1, metrics=("graph",))
    assert all(r["ms"] is None and r["flops"] is None and r["sequential_depth"] > 0 for r in out.rows)
    assert {f.metric for f in out.fits} == {"sequential_depth", "max_path_length"}


def test_complexity_cli_json_has_the_documented_keys(capsys):
    argv = ["complexity", "--models", "gru,attention-op", "--lengths", "16,32", "--d", "8", "--repeats", "1"]
    assert main([*argv, "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert list(out) == ["rows", "fits", "seconds", "table1"]
    assert set(out["rows"][0]) >= {
        "model", "n", "d", "flops", "activation_bytes", "peak_bytes", "ms", "sequential_depth", "max_path_length"
    }  # fmt: skip
    assert set(out["fits"][0]) == {"model", "metric", "exponent", "stderr", "theory"}


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--metrics", "speed"], "metrics"),
        (["--models", "attention-op", "--lengths", "64,100000"], "lengths"),
    ],
)
def test_complexity_cli_more_bad_input(capsys, argv, field):
    assert main(["complexity", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and field in err[0]


@pytest.mark.parametrize("model", ["rnn", "gru", "lstm", "gpt"])
def test_fast_flop_pass_skips_the_kernels_a_formula_counts_to_the_same_total(model):
    from seqlab.complexity.sweep import _trainer, instrumented_step

    counted = instrumented_step(_trainer(model, 24, 16, 4), memory=True)["flops"]  # every op through the counter
    fast = instrumented_step(_trainer(model, 24, 16, 4), memory=False)["flops"]
    assert fast == counted


# -- measurements kept on disk ----------------------------------------------------------------------------------
def test_a_second_sweep_reads_every_point_from_the_disk_cache_and_fresh_measures_again(monkeypatch):
    import seqlab.complexity.sweep as sw

    first = sweep(["lstm"], [8, 16], d=8, batch_size=2, repeats=1, metrics=("time", "flops"))
    calls = []
    monkeypatch.setattr(sw, "_measure", lambda *a: calls.append(a) or pytest.fail("measured a cached point"))
    second = sweep(["lstm"], [8, 16], d=8, batch_size=2, repeats=1, metrics=("time", "flops"))
    assert [r["cached"] for r in first.rows] == [False, False] and all(r["cached"] for r in second.rows)
    assert [(r["ms"], r["flops"]) for r in second.rows] == [(r["ms"], r["flops"]) for r in first.rows]
    monkeypatch.undo()
    again = sweep(["lstm"], [8, 16], d=8, batch_size=2, repeats=1, metrics=("flops",), fresh=True)
    assert not any(r["cached"] for r in again.rows)
    assert [r["flops"] for r in again.rows] == [r["flops"] for r in first.rows]


def test_a_cached_point_is_not_reused_for_another_batch_size_or_a_missing_metric():
    from seqlab.complexity.sweep import measure_point

    measure_point("rnn", 8, 8, batch_size=2, repeats=1, metrics=("flops",))
    assert not measure_point("rnn", 8, 8, batch_size=3, repeats=1, metrics=("flops",))["cached"]
    assert not measure_point("rnn", 8, 8, batch_size=2, repeats=1, metrics=("flops", "time"))["cached"]
    assert measure_point("rnn", 8, 8, batch_size=2, repeats=1, metrics=("time",))["cached"]


@pytest.mark.parametrize("content", ["{not json", '{"format": 999, "points": {}}', '["a list"]'])
def test_a_corrupt_cache_file_is_ignored_with_a_warning_and_replaced(content, caplog):
    from seqlab.complexity import cache

    path = cache.cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    with caplog.at_level("WARNING", logger="seqlab.complexity.cache"):
        assert cache.get("anything") == {}
    assert "ignoring the complexity cache" in caplog.text
    cache.store({"k": {"ms": 1.5}})
    assert json.loads(path.read_text()) == {"format": cache.FORMAT, "points": {"k": {"ms": 1.5}}}
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_quick_sweep_reads_the_disk_cache_and_forget_measures_again(monkeypatch):
    from seqlab.complexity import quick

    rows = quick.quick_sweep(("gru",), (8, 16), 8, 2, 1)
    quick.quick_sweep.cache_clear()  # a new process: only the disk cache is left
    monkeypatch.setattr(quick, "Trainer", lambda cfg: pytest.fail("measured a cached point"))
    assert quick.quick_sweep(("gru",), (8, 16), 8, 2, 1) == rows
    quick.forget(("gru",), (8, 16), 8, 2)
    with pytest.raises(pytest.fail.Exception, match="measured a cached point"):
        quick.quick_sweep(("gru",), (8, 16), 8, 2, 1)


# -- the fast sweep: FLOPs of one example, lengths largest first, the fastest of few steps ----------------------
@pytest.mark.parametrize("model", [m for m in MODELS if model_class(m).batch_linear_flops])
def test_a_step_s_flops_are_the_batch_times_one_example_s_where_the_model_declares_so(model):
    from seqlab.complexity.sweep import _trainer, counted_flops, instrumented_step

    flops = instrumented_step(_trainer(model, 6, 8, 3), memory=False)["flops"]
    assert flops > 0 and counted_flops(_trainer(model, 6, 8, 3)) == flops


def test_moe_and_s4d_flops_are_not_linear_in_the_batch_so_the_whole_batch_is_counted():
    from seqlab.complexity.sweep import _trainer, counted_flops, instrumented_step

    def flops(model, batch_size, **options):
        flat = {"model": model, "task": "parity", "seq_len": 6, "hidden": 8, "batch_size": batch_size, **options}
        return instrumented_step(Trainer(RunConfig.from_flat(flat)), memory=False)["flops"]

    # a tight capacity: every expert is full, and C = ⌈0.5·k·N/E⌉ is 2 for N = 6 tokens but 5 (not 6) for 18
    assert flops("moe", 3, capacity_factor=0.5) < 3 * flops("moe", 1, capacity_factor=0.5)
    assert flops("ssm", 3) < 3 * flops("ssm", 1)  # S4D's kernel is built once per batch
    for model in ("moe", "ssm"):
        assert counted_flops(_trainer(model, 6, 8, 3)) == instrumented_step(_trainer(model, 6, 8, 3), False)["flops"]


@pytest.mark.parametrize("stale", [5, None, {"flops": "many"}, {"flops": -1.0}, {"flops": float("nan")}, {"ms": True}])
def test_a_stored_point_that_is_not_a_measurement_is_ignored_with_a_note_and_measured_again(stale, caplog):
    from seqlab.complexity import cache
    from seqlab.complexity.sweep import measure_point, point_key

    key = point_key("rnn", 4, 4, 1)
    path = cache.cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": cache.FORMAT, "points": {"other": {"flops": 7.0}, key: stale}}))
    with caplog.at_level("WARNING", logger="seqlab.complexity.cache"):
        row = measure_point("rnn", 4, 4, batch_size=1, repeats=1, metrics=("flops",))
    assert not row["cached"] and row["flops"] > 0
    assert "ignoring 1 of 2 points in the complexity cache" in caplog.text
    assert json.loads(path.read_text())["points"] == {
        "other": {"flops": 7.0},
        key: {"flops": row["flops"], "params": row["params"]},
    }


def test_the_cli_measures_again_over_a_corrupt_cache_with_a_note_and_rebuilds_it(capsys, caplog):
    from seqlab.complexity import cache

    path = cache.cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"format": 1, "points": {"truncated')
    argv = ["complexity", "--models", "rnn", "--lengths", "4,8", "--d", "4", "--batch-size", "1"]
    with caplog.at_level("WARNING", logger="seqlab.complexity.cache"):
        assert main([*argv, "--metrics", "flops", "--quiet", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "ignoring the complexity cache" in caplog.text and "it cannot be read" in caplog.text
    assert [r["cached"] for r in out["rows"]] == [False, False]
    rebuilt = json.loads(path.read_text())
    assert rebuilt["format"] == cache.FORMAT and len(rebuilt["points"]) == 2


def test_a_sweep_from_n_1_over_a_length_no_chunk_divides_gives_finite_counts_and_fits():
    # n = 1 is one step of every recurrence and a 1×1 attention; n = 7 leaves the selective scan a partial chunk
    out = sweep(["rnn", "gpt", "selective-ssm"], [1, 7], d=4, batch_size=2, repeats=1, metrics=("flops",))
    assert all(r["flops"] > 0 for r in out.rows) and len(out.rows) == 6
    assert all(f.metric == "flops" and 0.5 < f.exponent < 2.5 and f.stderr == 0.0 for f in out.fits)


def test_the_panel_bench_draws_the_second_visit_and_the_restart_from_kept_points_in_its_own_home():
    import os

    from seqlab.complexity import cache
    from seqlab.ui.bench import bench_complexity_panel

    home = os.environ["SEQLAB_HOME"]
    out = bench_complexity_panel(models=("rnn",), d=4, lengths=(4, 8))
    assert out["kept"] == [False, True, True] and out["lengths"] == [4, 8]
    assert os.environ["SEQLAB_HOME"] == home and not cache.cache_path().exists()  # the user's home untouched


def test_each_model_is_measured_largest_n_first_with_one_warm_up_and_a_cached_point_passes_it_on(monkeypatch):
    import seqlab.complexity.sweep as sw

    timed = []  # (model, n, warm_up) of every timing

    def fake(trainer, repeats, warm_up, timer):
        timed.append((trainer.config.model.name, trainer.config.task.seq_len, warm_up))
        return 1.0

    monkeypatch.setattr(sw, "timed_steps", fake)
    sw.measure_point("gru", 16, 4, batch_size=1, repeats=1, metrics=("time",))  # kept: the largest gru point
    timed.clear()
    out = sweep(["rnn", "gru"], [4, 8, 16], d=4, batch_size=1, repeats=1, metrics=("time",))
    assert timed == [("rnn", 16, True), ("rnn", 8, False), ("rnn", 4, False), ("gru", 8, True), ("gru", 4, False)]
    assert [(r["model"], r["n"]) for r in out.rows] == [(m, n) for m in ("rnn", "gru") for n in (4, 8, 16)]


def test_a_point_s_time_is_the_median_of_its_steps_and_one_step_once_a_step_is_long(monkeypatch):
    import seqlab.complexity.sweep as sw
    from seqlab.complexity.clock import THREAD_CPU, Timer

    def timed(durations_ms, warm_up=False):
        clock, left = [0.0], list(durations_ms)
        steps = []

        def step(trainer):
            steps.append(trainer)
            clock[0] += left.pop(0) / 1000 if trainer == "timed" else 0.0

        monkeypatch.setattr(sw, "bare_step", step)
        return sw.timed_steps("timed", repeats=3, warm_up=warm_up, timer=Timer(THREAD_CPU, lambda: clock[0])), len(
            steps
        )

    assert timed([30, 50, 40]) == (pytest.approx(40), 3)
    assert timed([30, 31, 99]) == (
        pytest.approx(30.5),
        2,
    )  # two agree within 10 %: a third would not move the median by more
    assert timed([250, 240, 230]) == (pytest.approx(250), 1)  # past 0.1 s one step is the measurement
    assert timed([20, 90, 15]) == (pytest.approx(55), 2)  # the sum passed 0.1 s
    assert timed([500, 30, 31], warm_up=True) == (pytest.approx(30.5), 3)  # the first step, slow, is not timed


# -- the clock: the measuring thread's CPU time, kept with each point --------------------------------------------
def _waits_on_others(own_ms: float, wait_s: float):
    """A step that does ``own_ms`` of CPU work on its thread, then waits ``wait_s`` asleep and ``wait_s`` while
    another thread computes: as if descheduled by other processes' load, with CPU spent elsewhere."""
    import threading
    import time

    def spin(seconds):
        t = time.thread_time()
        while time.thread_time() - t < seconds:
            pass

    def step(trainer):
        spin(own_ms / 1000)
        time.sleep(wait_s)
        other = threading.Thread(target=spin, args=(wait_s,))
        other.start()
        other.join()

    return step


def test_a_step_s_time_counts_its_own_cpu_work_not_a_sleep_or_another_thread_s_work(monkeypatch):
    import seqlab.complexity.sweep as sw
    from seqlab.complexity import clock

    monkeypatch.setattr(sw, "bare_step", _waits_on_others(own_ms=2, wait_s=0.05))
    wall = sw.timed_steps(
        "any", repeats=1, warm_up=False, timer=clock.Timer(clock.WALL, __import__("time").perf_counter)
    )
    timer = clock.timer()
    cpu = sw.timed_steps("any", repeats=1, warm_up=False, timer=timer)
    assert timer.clock == clock.THREAD_CPU
    assert wall >= 100  # 50 ms asleep + 50 ms waiting for the other thread's CPU
    assert 2 <= cpu < 10  # its own 2 ms of CPU, plus starting a thread; none of the 100 ms it waited


def test_a_measured_point_keeps_its_clock_and_the_load_on_disk(monkeypatch):
    from seqlab.complexity import cache, clock
    from seqlab.complexity.sweep import measure_point, point_key

    monkeypatch.setattr(clock, "machine_load", lambda: 1.25)
    row = measure_point("rnn", 4, 4, batch_size=1, repeats=1, metrics=("time",))
    assert (row["ms_clock"], row["ms_load"]) == (clock.THREAD_CPU, 1.25) and row["ms"] > 0
    kept = cache.get(point_key("rnn", 4, 4, 1))
    assert {k: kept[k] for k in ("ms", "ms_clock", "ms_load")} == {k: row[k] for k in ("ms", "ms_clock", "ms_load")}


def test_a_wall_clock_time_is_used_with_more_than_one_torch_thread_and_says_so():
    import threading

    from seqlab.complexity import clock

    seen = []

    def ask():
        torch.set_num_threads(2)  # this thread's count only (OpenMP: seqlab.train.live)
        seen.append(clock.timer().clock)
        torch.set_num_threads(1)  # a thread asking later copies the count last set: leave it at one
        seen.append(clock.timer().clock)

    worker = threading.Thread(target=ask)
    worker.start()
    worker.join()
    assert seen == [clock.WALL, clock.THREAD_CPU]


def test_a_format_1_cache_of_wall_times_is_ignored_with_a_note_and_its_points_measured_again(caplog):
    from seqlab.complexity import cache, quick

    key = quick.model_point_key("rnn", 4, 4, 1)
    path = cache.cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": 1, "points": {key: {"ms": 999.0, "activation_bytes": 1, "params": 1}}}))
    assert not quick.all_kept(["rnn"], [4], 4, 1)
    with caplog.at_level("WARNING", logger="seqlab.complexity.cache"):
        row = quick.measure("rnn", 4, 4, batch_size=1, repeats=1)
    assert "format 1 kept wall times" in caplog.text and "measured again" in caplog.text
    assert row["ms"] != 999.0 and row["activation_bytes"] > 1 and row["ms_clock"] == "thread-cpu"
    rebuilt = json.loads(path.read_text())
    assert rebuilt["format"] == 2 and list(rebuilt["points"]) == [key]
    assert rebuilt["points"][key]["ms"] == row["ms"] and quick.all_kept(["rnn"], [4], 4, 1)


@pytest.mark.parametrize("point", [{"ms": 3.0}, {"ms": 3.0, "ms_clock": "sundial", "ms_load": 0.1}])
def test_a_stored_time_without_a_known_clock_is_not_a_measurement(point, caplog):
    from seqlab.complexity import cache

    path = cache.cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": cache.FORMAT, "points": {"k": point, "f": {"flops": 2.0}}}))
    with caplog.at_level("WARNING", logger="seqlab.complexity.cache"):
        assert cache.load() == {"f": {"flops": 2.0}}
    assert "ignoring 1 of 2 points" in caplog.text


def test_a_wall_time_measured_under_load_is_noted_kept_while_loaded_and_measured_again_when_quiet(monkeypatch, capsys):
    import os

    from seqlab.complexity import clock
    from seqlab.complexity.sweep import measure_point

    cores = os.cpu_count() or 1
    monkeypatch.setattr(clock, "_thread_clock", lambda: None)  # a platform without thread CPU time
    monkeypatch.setattr(clock, "machine_load", lambda: cores + 2.0)
    first = measure_point("rnn", 4, 4, batch_size=1, repeats=1, metrics=("time",))
    assert (first["ms_clock"], first["ms_load"]) == (clock.WALL, cores + 2.0) and clock.bent_by_load(first)
    assert measure_point("rnn", 4, 4, batch_size=1, repeats=1, metrics=("time",))["cached"]  # still loaded: kept
    argv = ["complexity", "--models", "rnn", "--lengths", "4,8", "--d", "4", "--batch-size", "1", "--metrics", "time"]
    assert main([*argv, "--quiet"]) == 0
    assert f"2 of 2 times are wall times measured at load {cores + 2.0:.1f} on {cores} cores" in capsys.readouterr().out
    monkeypatch.setattr(clock, "machine_load", lambda: cores - 0.5)
    again = measure_point("rnn", 4, 4, batch_size=1, repeats=1, metrics=("time",))
    assert not again["cached"] and again["ms_load"] == cores - 0.5 and not clock.bent_by_load(again)
    assert measure_point("rnn", 4, 4, batch_size=1, repeats=1, metrics=("time",))["cached"]
