"""The language-model experiments: pre-training helps few-label fine-tuning, loss falls with size as a
power law, in-context accuracy rises with the number of examples. Tiny, seeded configs."""

import dataclasses
import json
import math

import pytest
import torch

from seqlab.cli import main
from seqlab.config import RunConfig
from seqlab.errors import ConfigError
from seqlab.experiments.fewshot import FewShotConfig, run_fewshot
from seqlab.experiments.pretrain import PretrainConfig, run_pretrain
from seqlab.experiments.scaling import ScalingConfig, fit_power_law, non_embedding_params, power_law, run_scaling
from seqlab.models import build_model
from seqlab.tasks import IGNORE, make_task
from seqlab.ui import charts


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# -- the tasks --------------------------------------------------------------------------------------
def test_languages_share_uniform_token_counts_so_only_token_pairs_tell_them_apart():
    task = make_task("langid", 16, {"vocab_size": 12, "languages": 3, "branching": 2})
    P = task.P  # (C, V, V)
    assert torch.allclose(P.sum(-1), torch.ones(3, 12)) and torch.allclose(P.sum(-2), torch.ones(3, 12))
    assert not torch.allclose(P[0], P[1])
    batch = task.sample(3000, gen())
    for c in range(3):
        counts = torch.bincount(batch.x[batch.y == c].flatten(), minlength=12).float()
        assert (counts / counts.sum() - 1 / 12).abs().max() < 0.02  # uniform unigrams in every language
    assert task.bayes(batch)["accuracy"] > 0.95  # yet the pairs identify the language


def test_lm_targets_are_next_tokens_and_its_floor_lies_between_entropy_rate_and_blind_guess():
    task = make_task("lm", 20)
    batch = task.sample(512, gen())
    assert torch.equal(batch.x[:, 1:], batch.y[:, :-1])
    bayes = task.bayes(batch)["loss"]
    assert task.entropy_rate() - 0.05 < bayes < task.baseline().loss
    assert task.baseline().loss == pytest.approx(math.log(16))


def test_mlm_hides_15_percent_of_tokens_80_10_10_and_scores_only_those():
    task = make_task("mlm", 32, {"vocab_size": 16})
    batch = task.sample(2000, gen())
    scored = batch.y != IGNORE
    assert scored.float().mean().item() == pytest.approx(0.15, abs=0.01)
    masked = batch.x == task.mask_token
    assert not (masked & ~scored).any()
    assert masked[scored].float().mean().item() == pytest.approx(0.8, abs=0.02)
    assert (batch.x == batch.y)[scored].float().mean().item() == pytest.approx(0.1 + 0.1 / 16, abs=0.02)


def test_fewshot_answers_come_from_the_examples_and_the_ideal_learner_follows_k_over_K():
    task = make_task("fewshot", 6, {"key_vocab": 10, "value_vocab": 5, "queries": 3})
    batch = task.sample(64, gen())
    sep = task.sep
    for x, y in zip(batch.x.tolist(), batch.y.tolist(), strict=True):
        s = x.index(sep)
        pairs = {x[i]: x[i + 1] - 10 for i in range(0, s, 2)}
        for j in range(s + 1, s + 4):
            if x[j] in pairs:
                assert y[j] == pairs[x[j]]
        assert all(v == IGNORE for i, v in enumerate(y) if not s < i <= s + 3)
    for k in (1, 5, 10):
        t = task.at_length(k) if k <= 6 else make_task("fewshot", k, {**task.options.model_dump(), "min_len": k})
        expected = k / 10 + (1 - k / 10) / 5
        assert t.ideal(t.sample(4000, gen())) == pytest.approx(expected, abs=0.02)


def test_fewshot_groups_let_an_example_answer_unshown_keys_of_its_group():
    task = make_task("fewshot", 3, {"key_vocab": 12, "groups": 3, "value_vocab": 7, "queries": 4, "min_len": 3})
    batch = task.sample(256, gen())
    answered = 0
    for x, y in zip(batch.x.tolist(), batch.y.tolist(), strict=True):
        by_group = {x[i] % 3: x[i + 1] - 12 for i in range(0, 6, 2)}
        for j in range(7, 11):
            if x[j] % 3 in by_group:
                assert y[j] == by_group[x[j] % 3]
                answered += x[j] not in x[0:6:2]  # a key never shown, answered by its group
    assert answered > 100
    chance = 1 / 7
    covered = 1 - math.comb(8, 3) / math.comb(12, 3)  # three distinct keys miss a group of four
    assert task.ideal(batch) == pytest.approx(covered + (1 - covered) * chance, abs=0.04)


def test_pretrained_body_loads_into_a_fresh_model_but_not_into_another_shape():
    flat = {"model": "bert", "hidden": 16, "heads": 2, "layers": 1, "seq_len": 8}
    pre = build_model(RunConfig.from_flat({**flat, "task": "mlm"}).model, make_task("mlm", 8))
    fine = build_model(RunConfig.from_flat({**flat, "task": "langid"}).model, make_task("langid", 8))
    head = fine.head.proj.weight.clone()
    fine.load_body(pre.body_state())
    assert torch.equal(fine.embed.weight, pre.embed.weight)
    assert torch.equal(fine.blocks[0].attn.qkv.weight, pre.blocks[0].attn.qkv.weight)
    assert torch.equal(fine.head.proj.weight, head)  # the new task's head stays fresh
    wide = build_model(RunConfig.from_flat({**flat, "hidden": 32, "task": "langid"}).model, make_task("langid", 8))
    with pytest.raises(ConfigError, match="do not fit"):
        wide.load_body(pre.body_state())


# -- the experiments ---------------------------------------------------------------------------------
TINY_PRETRAIN = dict(
    languages=2, hidden=32, layers=2, heads=4, pretrain_steps=400, finetune_steps=40, finetune_lr=3e-3, eval_every=10
)
TINY_SCALING = dict(widths=[4, 8, 16], layers=1, heads=1, steps=150, seq_len=16, vocab_size=16, eval_size=128)
TINY_FEWSHOT = dict(
    key_vocab=8, value_vocab=4, train_max=4, eval_max=8, hidden=32, layers=2, heads=4, steps=500, eval_size=256
)


@pytest.fixture(scope="module")
def pretrain_result():
    return run_pretrain(PretrainConfig.build(TINY_PRETRAIN))


@pytest.fixture(scope="module")
def scaling_result():
    return run_scaling(ScalingConfig.build(TINY_SCALING))


@pytest.fixture(scope="module")
def fewshot_result():
    return run_fewshot(FewShotConfig.build(TINY_FEWSHOT))


def test_pretraining_beats_training_from_scratch_on_the_same_few_labels(pretrain_result):
    r = pretrain_result
    ft = r.finetune
    pre, scratch = ft.runs["pre-trained"], ft.runs["from scratch"]
    assert ft.labelled_examples == 40 * 8
    # measured over seeds 0-4: masked-token accuracy 0.55-0.66 (chance 0.0625); fine-tuned accuracy pre-trained
    # 0.80-0.92, from scratch 0.50-0.55 (chance 0.5), gain 0.29-0.37; loss pre-trained 0.20-0.46, from scratch
    # 0.70-0.72 (ln 2 = 0.69), never closer than 0.24
    assert r.pretrain.accuracy > 2 * r.pretrain.chance  # masked tokens were learned
    assert pre.final_accuracy > 0.75 and scratch.final_accuracy < 0.65
    assert r.gain > 0.25
    assert pre.final_loss < scratch.final_loss - 0.15
    steps = [e["step"] for e in pre.history["eval"]]
    assert steps == [0, 10, 20, 30, 40] == [e["step"] for e in scratch.history["eval"]]


def test_power_law_fit_recovers_a_known_exponent():
    n = [1e3, 3e3, 1e4, 3e4, 1e5]
    noise = [1.01, 0.99, 1.0, 1.015, 0.99]
    loss = [5.0 * v**-0.3 * e + 0.8 for v, e in zip(n, noise, strict=True)]
    known = fit_power_law(n, loss, 0.8)
    assert known.alpha == pytest.approx(0.3, abs=0.02) and known.a == pytest.approx(5.0, rel=0.2)
    assert 0 < known.alpha_stderr < 0.02 and known.dof == 3 and known.alpha_ci95 > known.alpha_stderr
    exact = [5.0 * v**-0.3 + 0.8 for v in n]
    fitted = fit_power_law(n, exact, "fit")
    assert fitted.alpha == pytest.approx(0.3, abs=0.02) and fitted.c == pytest.approx(0.8, abs=0.02)
    pure = fit_power_law(n, [2.0 * v**-0.5 for v in n])
    assert pure.alpha == pytest.approx(0.5, abs=1e-9) and power_law(1e4, pure) == pytest.approx(0.02)
    with pytest.raises(ValueError, match="not below"):
        fit_power_law(n, loss, 1.0)


def test_non_embedding_parameters_are_about_12_layers_d_squared():
    cfg = RunConfig.from_flat({"model": "gpt", "task": "lm", "hidden": 64, "layers": 3})
    model = build_model(cfg.model, cfg.make_task())
    assert non_embedding_params(model) == pytest.approx(12 * 3 * 64**2, rel=0.02)


def test_scaling_loss_falls_with_size_on_a_tiny_case(scaling_result):
    r = scaling_result
    losses = [p.loss for p in r.points]
    ns = [p.non_embedding_params for p in r.points]
    assert ns == sorted(ns) and ns[-1] / ns[0] > 10
    # measured over seeds 0-4: losses 2.56-2.68, 2.25-2.31, 1.97-1.99 (each step down ≥ 0.26), Bayes floor 0.95,
    # blind ln 16 = 2.77 (≥ 0.09 above the smallest model); α 0.10-0.12 with c = 0, 0.17-0.20 with c = Bayes
    assert losses[0] - 0.15 > losses[1] > losses[2] + 0.15 > r.bayes_loss + 0.15
    assert losses[0] < r.blind_loss - 0.05
    assert r.fit == r.fits["none"] and r.fit.c == 0 and r.fit.alpha > 0.05
    assert r.fits["bayes"].c == r.bayes_loss and r.fits["bayes"].alpha > r.fit.alpha + 0.03
    assert r.tokens == 150 * 32 * 16


def test_fewshot_accuracy_rises_with_examples_in_context_above_chance(fewshot_result):
    rows = fewshot_result.rows
    assert [r.k for r in rows] == list(range(1, 9)) and rows[4].trained is False
    acc = [r.accuracy for r in rows]
    # measured over seeds 0-4: acc(k=1..4) 0.34-0.37, 0.43-0.47, 0.50-0.55, 0.62-0.64, acc(k=8) 0.97-0.99; steps
    # k=1→2 ≥ 0.083, k=2→4 ≥ 0.17, k=4→8 ≥ 0.34; at most 0.023 above the ideal learner
    assert acc[3] > acc[1] + 0.1 and acc[1] > acc[0] + 0.04  # more examples, more right answers
    assert acc[3] > 0.25 + 0.3  # well above chance 1/4 at the largest trained k
    assert acc[7] > acc[3] + 0.2  # and still better with more examples than in training
    for r in rows[:4]:
        assert r.accuracy <= r.ideal + 0.05  # nobody beats the ideal learner (up to sampling)


def test_live_progress_counts_steps_across_runs_and_stops_the_rest_early():
    import threading

    from seqlab.experiments.base import LiveProgress
    from seqlab.train import Observer

    config = ScalingConfig.build({**TINY_SCALING, "steps": 100})
    live = LiveProgress(config.total_steps())
    at_step_20, stop_sent = threading.Event(), threading.Event()

    class HoldAtStep20(Observer):  # keeps the second model's training at a known step while the page stops it
        def on_step(self, record):
            if record.step == 20:
                at_step_20.set()
                stop_sent.wait(60)

    def observers(label):
        return [*live.observers(label), *([HoldAtStep20()] if label == "gpt d=8" else [])]

    out = {}
    worker = threading.Thread(target=lambda: out.update(result=run_scaling(config, observers)))
    worker.start()
    assert at_step_20.wait(60)
    live.stop()
    stop_sent.set()
    worker.join(60)
    snap = live.snapshot()
    assert snap["stopped"] and snap["steps"] == 100 + 20 and snap["total_steps"] == 300
    assert snap["phase"] == "gpt d=16" and set(snap["evals"]) == {"gpt d=4", "gpt d=8", "gpt d=16"}
    points = out["result"].points
    assert [p.status for p in points] == ["completed", "stopped", "stopped"]
    assert points[2].loss is None  # stopped before its first step: nothing to report


# -- configs and errors ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cls", "data", "field"),
    [
        (PretrainConfig, {"mask_rate": 0}, "pretrain.mask_rate"),
        (PretrainConfig, {"hidden": 30, "heads": 4}, "pretrain.heads"),
        (PretrainConfig, {"finetune_steps": -1}, "pretrain.finetune_steps"),
        (ScalingConfig, {"widths": [16, 8, 32]}, "scaling.widths"),
        (ScalingConfig, {"widths": [8, 16]}, "scaling.widths"),
        (ScalingConfig, {"widths": [8, 16, 24], "heads": 16}, "scaling.heads"),
        (ScalingConfig, {"irreducible": "guess"}, "scaling.irreducible"),
        (FewShotConfig, {"eval_max": 40}, "fewshot.eval_max"),
        (FewShotConfig, {"pos": "learned"}, "fewshot.eval_max"),
        (FewShotConfig, {"lr": 0}, "fewshot.lr"),
        (FewShotConfig, {"colour": 1}, "fewshot.colour"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(cls, data, field):
    with pytest.raises(ConfigError) as e:
        cls.build(data)
    assert e.value.field == field and str(e.value).startswith(field + ": ")


def test_run_config_errors_are_renamed_to_the_experiment_setting():
    cfg = PretrainConfig.build({"vocab_size": 4, "branching": 5})
    with pytest.raises(ConfigError) as e:
        run_pretrain(cfg)
    assert e.value.field == "pretrain.branching"


# -- charts --------------------------------------------------------------------------------------
def _texts(fig):
    return json.dumps(fig.to_dict(), default=str, ensure_ascii=False)


def test_finetune_chart_draws_both_arms_against_labelled_examples(pretrain_result):
    fig = charts.finetune_chart(pretrain_result)
    data = fig.data["curves"]
    assert set(data["run"]) == {"pre-trained", "from scratch"} and data["examples"].max() == 40 * 8
    assert fig.title.startswith("Fine-tuning") and "labelled examples seen" in _texts(fig)
    assert fig.data["baseline"]["y"].iloc[0] == 0.5
    loss = charts.finetune_chart(pretrain_result, "loss")
    assert "nats" in _texts(loss) and loss.data["baseline"]["y"].iloc[0] == pytest.approx(math.log(2))


def test_scaling_chart_is_log_log_with_points_fit_and_floor(scaling_result):
    fig = charts.scaling_chart(scaling_result)  # c = 0: loss itself, the Bayes floor dashed
    text = _texts(fig)
    assert fig.title == "Held-out loss vs model size"
    assert "non-embedding parameters N (log)" in text and "held-out loss L, nats per token" in text
    assert '"log"' in text and "α = " in fig.data["note"]["text"].iloc[0]
    assert list(fig.data["points"]["loss"]) == [p.loss for p in scaling_result.points]
    bayes = scaling_result.bayes_loss
    assert len(fig.data["fit"]) > 10 and list(fig.data["floor"]["loss"]) == [bayes, bayes]
    known = dataclasses.replace(scaling_result, fit=scaling_result.fits["bayes"])
    minus = charts.scaling_chart(known)  # c > 0: the reducible loss L − c, where the fit is a line
    assert "L − c, nats per token" in _texts(minus) and minus.data["floor"].empty
    assert list(minus.data["points"]["loss"]) == pytest.approx([p.loss - bayes for p in scaling_result.points])
    whole = charts.scaling_chart(known, reducible=False)
    assert "held-out loss L" in _texts(whole) and list(whole.data["floor"]["loss"]) == [bayes, bayes]


def test_fewshot_chart_has_model_ideal_and_chance_and_marks_the_trained_range(fewshot_result):
    fig = charts.fewshot_chart(fewshot_result)
    assert set(fig.data["rows"]["series"]) == set(charts.FEWSHOT_SERIES)
    assert fig.data["trained"]["k"].iloc[0] == 4 and "in-context examples k" in _texts(fig)
    assert fig.title.startswith("Few-shot")


# -- command line --------------------------------------------------------------------------------
def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


JSON_KEYS = {
    "pretrain": ["config", "pretrain", "finetune", "gain", "seconds"],
    "scaling": ["config", "points", "fit", "fits", "bayes_loss", "blind_loss", "tokens", "seconds"],
    "fewshot": ["config", "rows", "train_max", "chance", "params", "status", "history", "seconds"],
}


@pytest.mark.parametrize(
    ("argv", "summary", "expected", "progress"),
    [
        (
            ["pretrain", "--pretrain-steps", "5", "--finetune-steps", "3", "--hidden", "8", "--heads", "2"],
            lambda d: d["finetune"]["labelled_examples"],
            3 * 8,  # three fine-tuning steps of eight labelled examples
            "step 3/3",
        ),
        (
            ["scaling", "--widths", "2,4,8", "--heads", "1", "--steps", "3", "--layers", "1"],
            lambda d: [p["width"] for p in d["points"]],
            [2, 4, 8],
            "[3/3] d=8",
        ),
        (
            ["fewshot", "--steps", "3", "--eval-max", "3", "--hidden", "8", "--heads", "2"],
            lambda d: [r["k"] for r in d["rows"]],
            [1, 2, 3],
            "step 3/3",
        ),
    ],
)
def test_cli_experiments_print_one_json_object_last_and_progress_on_stderr(capsys, argv, summary, expected, progress):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0
    d = json.loads(out.strip().splitlines()[-1])
    assert summary(d) == expected and d["config"]["steps" if argv[0] != "pretrain" else "finetune_steps"] == 3
    assert progress in err
    assert list(d) == JSON_KEYS[argv[0]]  # the typed results' to_json() keep the CLI's objects, key for key


def test_cli_scaling_prints_a_line_per_size_and_the_fit(capsys):
    code, out, err = run(capsys, "scaling", "--widths", "2,4,8", "--heads", "1", "--steps", "3", "--layers", "1")
    assert code == 0 and "[3/3] d=8" in err and "α = " in out and "Kaplan" in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["pretrain", "--mask-rate", "2"], "pretrain.mask_rate"),
        (["scaling", "--widths", "8,x"], "scaling.widths"),
        (["scaling", "--widths", "8,16"], "scaling.widths"),
        (["fewshot", "--heads", "3"], "fewshot.heads"),
        (["fewshot", "--bogus", "1"], "unrecognized arguments"),
    ],
)
def test_cli_experiments_refuse_bad_input_with_exit_2_and_one_line(capsys, argv, expected):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and expected in err and "Traceback" not in err


def test_an_experiment_from_the_cli_records_each_training_as_one_tagged_group(capsys):
    from seqlab.store import RunStore

    argv = ["pretrain", "--pretrain-steps", "5", "--finetune-steps", "3", "--eval-size", "16", "--quiet"]
    assert main(argv) == 0
    runs = RunStore().list(tag="pretrain")
    assert len(runs) == 3  # pre-training, then the two fine-tuning arms
    assert len({r["group_id"] for r in runs}) == 1 and all(r["status"] == "completed" for r in runs)
    assert sorted(r["name"] for r in runs)[0].startswith("fine-tuning")
