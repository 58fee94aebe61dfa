"""Character language modelling: the corpora, uploads, the held-out split, sampling, the CLI."""

import json
import math
from collections import Counter

import pytest
import torch
from pagetest import app, chart_data, wait_jobs
from pagetest import train as train_page

from seqlab.cli import main
from seqlab.config import RunConfig
from seqlab.errors import ConfigError
from seqlab.sampling import SampleRecorder, SamplingConfig, sample_text
from seqlab.tasks import make_task
from seqlab.tasks.chars import (
    MAX_TEXTS,
    MAX_UPLOAD_BYTES,
    bracket_errors,
    generated_corpus,
    grammatical,
    register_text,
    registered_text,
    validate_text,
)
from seqlab.train import Trainer, train


def test_generated_corpora_are_deterministic_and_well_formed():
    assert generated_corpus("grammar", 0) == generated_corpus("grammar", 0) != generated_corpus("grammar", 1)
    for line in generated_corpus("dyck").splitlines()[:200]:
        depth = 0
        for b in line.split():
            depth += 1 if b in "([" else -1
            assert depth >= 0
        assert depth == 0
    sentences = generated_corpus("grammar").splitlines()
    assert all(s.endswith(" .") for s in sentences[:200])
    assert sum(s.startswith(("the cats ", "some cats ")) for s in sentences) > 10


def test_the_grammar_checker_accepts_every_generated_sentence_and_finds_agreement_errors():
    sentences = generated_corpus("grammar").splitlines()
    assert all(grammatical(s) for s in sentences)
    assert grammatical("the cats near a dog see the bird .")
    assert not grammatical("the cats near a dog sees the bird .")  # the verb agrees with "cats", not "dog"
    assert grammatical("the cats near a dog sees the bird .", agree=False)
    assert not grammatical("some cat sleeps .") and grammatical("some cat sleeps .", agree=False)
    assert not grammatical("the cat that sleep runs .") and grammatical("the cat that sleeps runs .")
    assert not grammatical("the cat sleeps") and not grammatical("cat the sleeps .", agree=False)
    deep = "the cat near a dog near a fox near a bird sleeps ."  # three nested phrases: the grammar stops at two
    assert not grammatical(deep) and grammatical("the cat near a dog near a fox sleeps .")


def test_bracket_checker_counts_each_wrong_close():
    corpus = generated_corpus("dyck")
    assert bracket_errors(corpus) == (corpus.count(")") + corpus.count("]") + corpus.count("\n"), 0)
    assert bracket_errors("( [ ] )\n") == (3, 0)  # two brackets and the line end
    assert bracket_errors("( [ ) ]\n") == (3, 2)  # ")" closes "[", "]" closes "(" (the stack pops either way)
    assert bracket_errors(") (\n( (") == (2, 2)  # closes nothing; line ends open; the unfinished line is not judged


def test_assess_judges_whole_lines_against_the_corpus_rules():
    grammar = make_task("chars", 16)
    verdict = grammar.assess("the ", "cat sleeps .\nthe cats sleeps .\nsome dogs")  # last line unfinished
    assert (verdict["sentences"], verdict["grammatical"], verdict["grammatical_ignoring_agreement"]) == (2, 1, 2)
    assert grammar.assess("at ", "sleeps .\nthe cat sleeps .\n")["sentences"] == 1  # mid-line prompt: not judged
    excerpt = grammar.text[: grammar.text.index("\n", 3000) + 1]
    assert grammar.assess("", excerpt)["grammatical"] == excerpt.count("\n")
    dyck = make_task("chars", 16, {"corpus": "dyck"})
    assert dyck.assess("( ", "[ ] ) ]\n")["right"] == 3 and dyck.assess("( ", "[ ] ) ]\n")["closes"] == 4
    tid = register_text("some user text\n" * 500)
    assert make_task("chars", 16, {"corpus": "text", "text_id": tid}).assess("some ", "text") is None


def test_windows_predict_the_next_character_and_held_out_comes_from_the_last_tenth():
    task = make_task("chars", 16)
    b = task.sample(32, torch.Generator().manual_seed(0))
    assert torch.equal(b.x[:, 1:], b.y[:, :-1])  # y_t = x_{t+1}
    text = task.text
    for row in b.x[:4]:
        assert task.decode(row) in text[: task.split]
    held = task.sample_heldout(32, torch.Generator().manual_seed(0))
    for x, y in zip(held.x[:4], held.y[:4], strict=True):
        window = task.decode(x) + task.decode(y[-1:])
        assert text.find(window, task.split - 17) >= task.split - 17  # inside the held-out part


def test_baseline_is_the_unigram_entropy_of_the_training_text():
    task = make_task("chars", 16)
    counts = Counter(task.text[: task.split])
    n = sum(counts.values())
    assert task.baseline().loss == pytest.approx(-sum(c / n * math.log(c / n) for c in counts.values()))
    assert task.baseline().metrics["accuracy"] == pytest.approx(counts[" "] / n)  # space is the commonest


def test_a_small_gpt_learns_the_grammar_well_below_the_unigram_baseline():
    # measured over seeds 0-4: final loss 0.40-0.43 of the unigram baseline
    cfg = {"model": "gpt", "task": "chars", "seq_len": 32, "hidden": 32, "steps": 150, "lr": 3e-3, "eval_every": 150}
    r = train(RunConfig.from_flat(cfg))
    assert r.final_loss < 0.75 * r.baseline_loss, (r.final_loss, r.baseline_loss)


def test_uploaded_text_trains_and_is_named_by_its_hash():
    text = "abcab cab\n" * 2000
    tid = register_text(text.encode())
    assert tid == register_text(text) and len(tid) == 16
    cfg = RunConfig.from_flat({"model": "lstm", "task": "chars", "corpus": "text", "text_id": tid, "seq_len": 20})
    task = cfg.make_task()
    assert task.alphabet == "\n abc" and task.text == text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe\x00a", "not UTF-8"),
        (b"", "empty"),
        (b"   \n ", "empty"),
        (b"a" * (MAX_UPLOAD_BYTES + 1), "MB"),
        ("".join(chr(0x4E00 + i) for i in range(300)).encode(), "distinct characters"),
    ],
)
def test_bad_uploads_are_refused_with_a_reason(data, message):
    with pytest.raises(ConfigError) as e:
        validate_text(data)
    assert str(e.value).startswith("task.text:") and message in str(e.value)


def test_only_the_latest_uploads_are_kept_and_a_started_task_keeps_its_text():
    first = register_text("the first text\n" * 400)
    task = make_task("chars", 16, {"corpus": "text", "text_id": first})
    for i in range(MAX_TEXTS):
        register_text(f"text number {i}\n" * 400)
    with pytest.raises(ConfigError, match="^task.text_id: .*upload the file again"):
        registered_text(first)
    assert task.text.startswith("the first text")


def test_too_short_a_text_or_a_missing_one_is_refused_naming_the_field():
    tid = register_text("short text\n" * 5)
    with pytest.raises(ConfigError, match="^task.seq_len"):
        RunConfig.from_flat({"model": "gpt", "task": "chars", "corpus": "text", "text_id": tid})
    with pytest.raises(ConfigError, match="^task.text_id"):
        RunConfig.from_flat({"model": "gpt", "task": "chars", "corpus": "text", "text_id": "0123456789abcdef"})


@pytest.fixture(scope="module")
def trained():
    cfg = RunConfig.from_flat({"model": "gpt", "task": "chars", "seq_len": 32, "hidden": 32, "steps": 60})
    tr = Trainer(cfg)
    tr.run()
    return tr


def test_near_zero_temperature_and_top_1_are_greedy(trained):
    model, task = trained.model, trained.task
    greedy = []
    ids = task.encode("the ")
    with torch.no_grad():
        model.eval()
        for _ in range(30):
            from seqlab.tasks.base import Batch

            w = ids[-task.seq_len :][None]
            nxt = model(Batch(w, w)).pred[0, -1].argmax()
            greedy.append(int(nxt))
            ids = torch.cat([ids, nxt[None]])
    expected = task.decode(greedy)
    assert sample_text(model, task, SamplingConfig(length=30, top_k=1, temperature=1.0, seed=5)) == expected
    assert sample_text(model, task, SamplingConfig(length=30, temperature=1e-4, seed=7)) == expected


def test_samples_are_reproducible_per_seed(trained):
    a = sample_text(trained.model, trained.task, SamplingConfig(length=60, temperature=1.5, seed=1))
    b = sample_text(trained.model, trained.task, SamplingConfig(length=60, temperature=1.5, seed=1))
    c = sample_text(trained.model, trained.task, SamplingConfig(length=60, temperature=1.5, seed=2))
    assert a == b != c and len(a) == 60


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"temperature": 0.0}, "sampling.temperature"),
        ({"temperature": -1.0}, "sampling.temperature"),
        ({"top_k": 0}, "sampling.top_k"),
        ({"top_k": 1000}, "sampling.top_k"),
        ({"prompt": "THE"}, "sampling.prompt"),
    ],
)
def test_bad_sampling_settings_are_refused_naming_the_field(trained, values, field):
    with pytest.raises(ConfigError) as e:
        sample_text(trained.model, trained.task, SamplingConfig.build(**values))
    assert str(e.value).startswith(field)


def test_bidirectional_models_cannot_be_sampled_from():
    tr = Trainer(RunConfig.from_flat({"model": "bert", "task": "chars", "seq_len": 16, "hidden": 16}))
    with pytest.raises(ConfigError, match="^model.name: .*not a causal model"):
        sample_text(tr.model, tr.task, SamplingConfig())


def test_sample_recorder_keeps_a_sample_per_evaluation():
    rec = SampleRecorder(SamplingConfig(length=20))
    cfg = {"model": "lstm", "task": "chars", "seq_len": 16, "hidden": 16, "steps": 20, "eval_every": 10}
    Trainer(RunConfig.from_flat(cfg), [rec]).run()
    samples = rec.snapshot()
    assert [s for s, _ in samples] == [0, 10, 20] and all(len(t) == 20 for _, t in samples)


def test_a_prompt_outside_the_alphabet_falls_back_to_the_corpus_start_instead_of_failing_the_run():
    rec = SampleRecorder(SamplingConfig(prompt="the ", length=20))
    cfg = {"model": "gpt", "task": "chars", "corpus": "dyck", "seq_len": 16, "hidden": 16, "steps": 10}
    result = Trainer(RunConfig.from_flat({**cfg, "eval_every": 10}), [rec]).run()
    assert result.status == "completed" and rec.config.prompt == "[ " and "'the '" in rec.note
    assert [s for s, _ in rec.snapshot()] == [0, 10] and rec.assess(rec.snapshot()[-1][1])["closes"] > 0


def test_cli_trains_on_a_text_file_and_samples(tmp_path, capsys):
    path = tmp_path / "t.txt"
    path.write_text("to be or not to be, that is the question.\n" * 300, encoding="utf-8")
    argv = ["train", "--model", "lstm", "--task", "chars", "--text-file", str(path), "--seq-len", "24"]
    code = main([*argv, "--steps", "30", "--sample", "40", "--prompt", "to ", "--json", "--quiet"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and out["task"] == "chars" and len(out["sample"]["text"]) == 40
    assert set(out["sample"]["text"]) <= set("to be or not to be, that is the question.\n")


def test_cli_sample_on_the_grammar_reports_how_many_sentences_are_grammatical(capsys):
    argv = ["train", "--model", "gpt", "--task", "chars", "--seq-len", "16", "--hidden", "16", "--steps", "5"]
    assert main([*argv, "--sample", "200", "--prompt", "the ", "--json", "--quiet"]) == 0
    sample = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["sample"]
    verdict = sample["assessment"]
    assert verdict["sentences"] == ("the " + sample["text"]).count("\n") and verdict["grammatical"] == 0


def test_cli_bad_text_file_exit_2_one_line(tmp_path, capsys):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"\xff\xfeabc")
    assert main(["train", "--model", "gpt", "--task", "chars", "--text-file", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "task.text: not UTF-8" in err[0]
    assert main(["train", "--model", "gpt", "--task", "chars", "--text-file", str(tmp_path / "missing.txt")]) == 2
    assert "cannot read" in capsys.readouterr().err


# -- the page --------------------------------------------------------------------------------------------------
def _page(query=None):
    return app(query, "pages/language.py")


def _train(at):
    return train_page(at, "language")


def test_language_page_trains_and_shows_samples_with_the_chosen_temperature():
    at = _page({"seq_len": "16", "steps": "20", "eval_every": "10", "hidden": "16", "layers": "1"})
    at.number_input(key="language:temperature").set_value(0.5).run()
    runs = _train(at)
    assert [r.status for r in runs] == ["completed"]
    rec = runs[0].observers[0]
    assert [s for s, _ in rec.snapshot()] == [0, 10, 20] and rec.config.temperature == 0.5
    shown = [c.value for c in at.code]
    assert any(code == "the " + rec.snapshot()[-1][1] for code in shown)
    assert any("step 20" in m.value for m in at.markdown)
    at.button(key="language:sample_now").click().run()
    assert not at.exception and len(at.code) > len(shown)


def test_language_page_on_dyck_words_keeps_training_when_the_prompt_is_not_brackets():
    at = _page({"corpus": "dyck", "seq_len": "16", "steps": "10", "eval_every": "10", "hidden": "16", "layers": "1"})
    assert at.text_input(key="language:prompt").value == "the "
    runs = _train(at)
    assert [r.status for r in runs] == ["completed"]
    assert any("closed right" in m.value and "step 10" in m.value for m in at.markdown)
    assert any("samples continue '[ '" in c.value for c in at.caption)


def test_grammar_preset_trains_with_its_rate_and_batch_and_judges_the_samples():
    at = _page()
    at.selectbox(key="language:preset").set_value("A character GPT learns a grammar").run()
    at.button(key="language:load_preset").click().run()
    assert any("What to notice" in s.value for s in at.success)
    at.number_input(key="language:steps").set_value(10).run()
    at.number_input(key="language:eval_every").set_value(10).run()
    runs = _train(at)
    train_cfg = runs[0].config.train
    assert (train_cfg.lr, train_cfg.batch_size, runs[0].config.task.options["corpus"]) == (3e-3, 64, "grammar")
    assert any("step 10" in m.value and "sentences grammatical" in m.value for m in at.markdown)


def test_language_page_refuses_a_zero_temperature_next_to_the_control():
    at = _page()
    at.number_input(key="language:temperature").set_value(0.0).run()
    assert any(e.value.startswith("sampling.temperature") for e in at.error)


# the page draws whatever the experiments return: sizes far below test_experiments' TINY_* (which must
# learn for its claims) keep every chart and sentence while training ~30x fewer steps
PAGE_PRETRAIN = dict(languages=2, hidden=8, layers=1, heads=2, pretrain_steps=10, finetune_steps=6, eval_every=2)
PAGE_SCALING = dict(widths=[2, 4, 8], layers=1, heads=1, steps=6, seq_len=16, vocab_size=16, eval_size=32)
PAGE_FEWSHOT = dict(
    key_vocab=8, value_vocab=4, train_max=4, eval_max=8, hidden=8, layers=1, heads=2, steps=10, eval_size=32
)


def test_language_page_runs_the_three_claims_in_the_background_and_draws_them():
    at = _page()
    small = {"pretrain": PAGE_PRETRAIN, "scaling": PAGE_SCALING, "fewshot": PAGE_FEWSHOT}
    for name, settings in small.items():
        at.session_state[f"language:{name}:settings"] = settings
    at.run()
    for name in small:
        at.button(key=f"language:{name}:run").click().run()
    wait_jobs("experiment")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(m.value for m in at.markdown)
    assert "labelled examples" in text and "fitted exponent is **α =" in text and "rises from" in text
    curves = chart_data(at, "Fine-tuning", "curves")
    assert set(curves["run"]) == {"pre-trained", "from scratch"}
    assert chart_data(at, "Few-shot", "rows")["k"].max() == PAGE_FEWSHOT["eval_max"]
    assert not chart_data(at, "Held-out loss vs model size", "points").empty


def test_language_page_experiment_settings_are_checked_next_to_the_section():
    at = _page()
    at.text_input(key="language:scaling:widths").set_value("64,32").run()
    assert any(e.value.startswith("scaling.widths") for e in at.error), [e.value for e in at.error]
    at.text_input(key="language:scaling:widths").set_value("8,x").run()
    assert any("comma-separated integers" in e.value for e in at.error)
    steps = at.number_input(key="language:fewshot:steps")
    assert steps.min == 1  # the field's own bound (seqlab.schema), as in the CLI: 0 cannot be typed
    at.number_input(key="language:fewshot:train_max").set_value(20).run()  # more examples than keys (16)
    assert any(e.value.startswith("fewshot.train_max") for e in at.error), [e.value for e in at.error]


def test_an_experiment_stopped_while_it_waits_for_a_slot_never_runs_and_says_so():
    from pagetest import every_slot_held
    from test_experiments import TINY_FEWSHOT

    with every_slot_held() as reg:
        at = _page()
        try:
            at.session_state["language:fewshot:settings"] = TINY_FEWSHOT
            at.run()
            at.button(key="language:fewshot:run").click().run()
            (job,) = [j for j in reg.jobs() if j.kind == "experiment" and j.status == "queued"]
            shown = [p.proto.text for p in at.get("progress")]
            assert reg.status_text(job) in shown
            assert reg.status_text(job).startswith(f"waiting: {reg.max_running} jobs running — starts when one ends (")
            at.button(key="language:fewshot:stop").click().run()
            assert job.ended and job.status == "stopped" and job.result is None
            at.run()
            assert not at.exception, [e.value for e in at.exception]
            assert any("Stopped before it started" in w.value for w in at.warning)
        finally:
            me = at.session_state["seqlab_owner"]
            for j in reg.jobs():  # the page's own complexity measurement may be queued too: it need not run
                if j.status == "queued":
                    reg.stop_job(j.id, me)
