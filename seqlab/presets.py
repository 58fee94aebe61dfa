"""The classic demos of the pages, each a checked claim.

A ``Preset`` names the runs a page trains side by side (its models on one task, or one model swept
over an option) and the ``Lesson`` those runs should show: a few ``Claim``s over each run's latest
held-out evaluation and its blind baseline, all of which must hold at once, and the sentence a
student reads. ``LessonWatch`` checks the claims after every evaluation of any of the group's
runs, records when they first held ("lesson visible at 23 s") and stops the group ``margin``
seconds later. The page (``seqlab.ui.panels``) and ``seqlab bench --presets`` use the same
watch, so the time the bench reports is the time the page shows.

Lessons read only what the engine records (``EvalRecord`` and the baseline), so a claim can be
tested on hand-made records and checked against a stored run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .config import MODEL_FIELDS, TRAIN_FIELDS, RunConfig, flat_model_options, flat_task_options
from .train.observers import Observer
from .train.records import EvalRecord

# seconds the runs keep training after their lesson first holds, so the charts show it settled
LESSON_MARGIN_S = 5.0


@dataclass(frozen=True)
class RunView:
    """What a lesson reads of one run: its latest held-out evaluation and its blind baseline."""

    label: str
    step: int
    loss: float
    metrics: dict[str, float]
    baseline_loss: float
    baseline: dict[str, float]

    def value(self, metric: str) -> float:
        return self.loss if metric == "loss" else self.metrics[metric]

    def base(self, metric: str) -> float:
        return self.baseline_loss if metric == "loss" else self.baseline[metric]


Runs = dict[str, RunView]  # by run label (the model's name; ``model·value`` in an option sweep)


@dataclass(frozen=True)
class Claim:
    """One condition on the runs, with the text the bench prints for it."""

    text: str
    labels: tuple[str, ...]
    test: Callable[[Runs], bool]

    def holds(self, runs: Runs) -> bool:
        return all(label in runs for label in self.labels) and self.test(runs)


def at_least(label: str, metric: str, value: float) -> Claim:
    return Claim(f"{label} {metric} ≥ {value:g}", (label,), lambda r: r[label].value(metric) >= value)


def at_most(label: str, metric: str, value: float) -> Claim:
    return Claim(f"{label} {metric} ≤ {value:g}", (label,), lambda r: r[label].value(metric) <= value)


def below_baseline(label: str, metric: str, fraction: float) -> Claim:
    """``metric`` (an error: loss, mse) under ``fraction`` × the run's blind baseline."""
    return Claim(
        f"{label} {metric} < {fraction:g} × baseline",
        (label,),
        lambda r: r[label].value(metric) < fraction * r[label].base(metric),
    )


def near_baseline(label: str, metric: str, fraction: float) -> Claim:
    """``metric`` (an error) still above ``fraction`` × the blind baseline: nothing learned yet."""
    return Claim(
        f"{label} {metric} > {fraction:g} × baseline",
        (label,),
        lambda r: r[label].value(metric) > fraction * r[label].base(metric),
    )


def ahead(a: str, b: str, metric: str, margin: float) -> Claim:
    return Claim(
        f"{a} {metric} ≥ {b} + {margin:g}", (a, b), lambda r: r[a].value(metric) >= r[b].value(metric) + margin
    )


@dataclass(frozen=True)
class Lesson:
    sentence: str  # what the student should see, said no stronger than the claims
    claims: tuple[Claim, ...]

    def holds(self, runs: Runs) -> bool:
        return all(c.holds(runs) for c in self.claims)

    @property
    def text(self) -> str:
        return " and ".join(c.text for c in self.claims)


@dataclass
class Preset:
    name: str
    models: tuple[str, ...]
    settings: dict  # flat settings
    notice: str  # the one sentence of "what to notice"
    # one model trained once per value of one of its options, e.g. ("score", ("dot", "general", "concat"))
    sweep: tuple[str, tuple[str, ...]] | None = None
    lesson: Lesson | None = None
    margin: float = LESSON_MARGIN_S
    # when the lesson honestly takes longer than half a minute, how long (said on the page)
    takes: str | None = None

    def labels(self) -> list[str]:
        if self.sweep:
            return [f"{self.models[0]}·{v}" for v in self.sweep[1]]
        return list(self.models)


def slug(name: str) -> str:
    """A preset's name as it appears in a link: ``Memory: copy with delay 20`` → ``memory-copy-with-delay-20``."""
    return "-".join(w for w in "".join(c if c.isalnum() else " " for c in name.lower()).split())


def settings_of(models, task: str) -> set[str]:
    """The flat setting names that ``models`` (any of them) and ``task`` have."""
    names = {"model", "task", "seq_len", *MODEL_FIELDS, *TRAIN_FIELDS, *flat_task_options(task)}
    for m in models:
        names.update(flat_model_options(m))
    return names


def preset_configs(preset: Preset, defaults: dict) -> list[tuple[str, RunConfig]]:
    """The (label, config) pairs a page trains once ``preset`` is loaded: the page's ``defaults`` fill in
    what the preset leaves out, each model keeps only settings it and the task have, and the rate is the
    model's own unless the preset names one (as ``seqlab.ui.controls.apply_preset`` loads them)."""
    task = preset.settings.get("task", defaults["task"])
    merged = {**{k: v for k, v in defaults.items() if k != "lr"}, **preset.settings, "task": task}
    out = []
    for m in preset.models:
        own = settings_of((m,), task)
        flat = {**{k: v for k, v in merged.items() if k in own}, "model": m}
        if preset.sweep:
            name, values = preset.sweep
            out += [(f"{m}·{v}", RunConfig.from_flat({**flat, name: v})) for v in values]
        else:
            out.append((m, RunConfig.from_flat(flat)))
    return out


@dataclass(frozen=True)
class Hit:
    """The moment a lesson first held: seconds since the group started, each run's step, and the CPU
    seconds each run's thread had spent by its latest evaluation (unlike wall time, about the same on
    a loaded machine as on a quiet one; a run on several threads counts only its own thread's share)."""

    seconds: float
    steps: dict[str, int]
    cpu: dict[str, float] = field(default_factory=dict)


class LessonWatch:
    """Checks ``lesson`` after every held-out evaluation of a group's runs; once it holds, every run of
    the group stops at its next step after ``margin`` more seconds. ``observer()`` makes the observer
    for the next run, in the order of ``labels`` (the order ``RunRegistry.start_group`` starts them)."""

    def __init__(self, lesson: Lesson, labels: list[str], margin: float = LESSON_MARGIN_S, clock=time.monotonic):
        self.lesson, self.labels, self.margin, self.clock = lesson, list(labels), margin, clock
        self._lock = threading.Lock()
        self._runs: Runs = {}
        self._cpu: dict[str, float] = {}
        self._next = 0
        self.t0: float | None = None
        self.hit: Hit | None = None

    def observer(self) -> Observer:
        with self._lock:
            label = self.labels[self._next]
            self._next += 1
        return _Watching(self, label)

    def view(self) -> Runs:
        with self._lock:
            return dict(self._runs)

    def _started(self) -> None:
        with self._lock:
            if self.t0 is None:
                self.t0 = self.clock()

    def _evaluated(self, label: str, trainer, record: EvalRecord, cpu: float) -> None:
        base = trainer.baseline
        view = RunView(label, record.step, record.loss, dict(record.metrics), base.loss, dict(base.metrics))
        with self._lock:
            self._runs[label], self._cpu[label] = view, cpu
            if self.hit is None and self.lesson.holds(self._runs):
                steps = {k: v.step for k, v in self._runs.items()}
                self.hit = Hit(self.clock() - self.t0, steps, dict(self._cpu))

    def done(self) -> bool:
        """The lesson held ``margin`` seconds ago or longer: time to stop."""
        with self._lock:
            return self.hit is not None and self.clock() - self.t0 - self.hit.seconds >= self.margin


def watched(factory: Callable[[], list[Observer]] | None, watch: LessonWatch) -> Callable[[], list[Observer]]:
    """``factory``'s observers for each new run, with ``watch``'s observer last (pages read theirs by index)."""
    return lambda: [*(factory() if factory else []), watch.observer()]


class _Watching(Observer):
    def __init__(self, watch: LessonWatch, label: str):
        self.watch, self.label, self.trainer, self.cpu0 = watch, label, None, 0.0

    def on_start(self, trainer) -> None:
        self.trainer, self.cpu0 = trainer, time.thread_time()
        self.watch._started()

    def on_eval(self, record: EvalRecord) -> None:
        self.watch._evaluated(self.label, self.trainer, record, time.thread_time() - self.cpu0)

    def on_step(self, record) -> None:
        if self.watch.done():
            self.trainer.request_stop()


def watch_of(runs) -> LessonWatch | None:
    """The lesson watch among these live runs' observers (a preset's group), if any."""
    return next((o.watch for r in runs for o in r.observers if isinstance(o, _Watching)), None)


def first_hit(lesson: Lesson, histories: dict[str, tuple[list[EvalRecord], float, dict]]) -> Hit | None:
    """When ``lesson`` first held in finished runs: ``histories`` maps a label to (its eval records,
    baseline loss, baseline metrics). Records are replayed in the order of their ``elapsed`` (runs of a
    group start together), as a ``LessonWatch`` would have seen them live."""
    events = sorted(
        ((rec.elapsed, label, rec) for label, (recs, _, _) in histories.items() for rec in recs), key=lambda e: e[0]
    )
    runs: Runs = {}
    for elapsed, label, rec in events:
        _, base_loss, base = histories[label]
        runs[label] = RunView(label, rec.step, rec.loss, dict(rec.metrics), base_loss, dict(base))
        if lesson.holds(runs):
            return Hit(elapsed, {k: v.step for k, v in runs.items()})
    return None


# -- the pages' presets ------------------------------------------------------------------------------
# Each page's defaults and observers live here because a preset's runs are its settings on top of the
# defaults, watched as the page watches them (the bench times them with the same observers).


def _observers(page: str) -> list[Observer]:
    from .diagnostics.attention import AttentionRecorder
    from .diagnostics.experts import ExpertLoadRecorder
    from .diagnostics.lengths import LengthProbe
    from .diagnostics.recurrent import HiddenGradProbe, ParamGradNorms
    from .sampling import SampleRecorder, SamplingConfig

    return {
        "recurrent": lambda: [HiddenGradProbe(), ParamGradNorms()],
        "seq2seq": lambda: [AttentionRecorder(), LengthProbe()],
        "transformers": lambda: [AttentionRecorder()],
        "emerging": lambda: [ExpertLoadRecorder()],
        # the page's own sampling settings when a student trains; these are the page's defaults
        "language": lambda: [SampleRecorder(SamplingConfig(length=160))],
    }[page]()


def observers(page: str) -> Callable[[], list[Observer]]:
    """The page's observers for each new run (``RunRegistry.start_group``'s factory)."""
    return lambda: _observers(page)


DEFAULTS: dict[str, dict] = {
    "recurrent": {"model": "lstm", "task": "adding", "seq_len": 50, "steps": 3000},
    "seq2seq": {"model": "bahdanau", "task": "seq-reverse", "seq_len": 30, "steps": 1000},
    "transformers": {"model": "gpt", "task": "reverse", "seq_len": 20, "steps": 1500, "layers": 2},
    "emerging": {"model": "ssm", "task": "copy", "seq_len": 3, "delay": 60, "steps": 1500},
    "language": {"model": "gpt", "task": "chars", "seq_len": 64, "steps": 1500, "layers": 2, "eval_every": 100},
}

PRESETS: dict[str, list[Preset]] = {
    "recurrent": [
        Preset(
            "Vanishing gradients: RNN vs LSTM on adding, T=100",
            ("rnn", "lstm"),
            # lr 1e-2 and batch 64: the LSTM's drop came at step ~650 instead of after 2,500 (5e-3, batch 32)
            {"task": "adding", "seq_len": 100, "steps": 1500, "lr": 0.01, "batch_size": 64},
            "The RNN's heatmap goes dark on the left — inputs 100 steps back get ~no gradient — and its loss "
            "stays on the baseline. The LSTM's left edge darkens too, but its loss drops (at step ~650 here) "
            "and its rows then light up across the whole sequence.",
            lesson=Lesson(
                "The LSTM's held-out error falls below a third of the blind baseline while the RNN's stays on it.",
                (below_baseline("lstm", "mse", 0.3), near_baseline("rnn", "mse", 0.9)),
            ),
        ),
        Preset(
            "Memory: copy with delay 20",
            ("rnn", "lstm"),
            # hidden 128: the LSTM reached 95 % at step ~550; at 64 it was at 66 % after 1,500 steps
            {"task": "copy", "seq_len": 3, "delay": 20, "hidden": 128, "steps": 2000, "until": "accuracy>=0.99"},
            "The LSTM leaves chance (12.5 %) at once and climbs steadily — in a fresh run (seed 0) 38 % at step "
            "100, 95 % at 550, 99.7 % at 700 — while the RNN stays at chance (10–15 %), still there at step 2,000 "
            "in a run trained on.",
            lesson=Lesson(
                "The LSTM copies the symbols across the delay; the RNN does not.",
                (at_least("lstm", "accuracy", 0.95), at_most("rnn", "accuracy", 0.5)),
            ),
        ),
        Preset(
            "GRU vs LSTM: parameters and speed",
            ("lstm", "gru"),
            # 6 bits: both solve it in ~250 steps; at 8 and 10 bits the LSTM stayed at chance for 1,500 steps
            {"task": "parity", "seq_len": 6, "steps": 1500, "until": "accuracy>=0.99"},
            "The GRU has three weight blocks to the LSTM's four: 25,218 parameters to 33,538 (¾). In a fresh run "
            "(seed 0) the GRU reached 100 % at step 100, the LSTM at step 250; per step the two cost about the "
            "same here (~4 ms while both trained) — at this size ¾ of the weights is not ¾ of the time.",
            lesson=Lesson(
                "Both solve parity.", (at_least("lstm", "accuracy", 0.99), at_least("gru", "accuracy", 0.99))
            ),
        ),
    ],
    "seq2seq": [
        Preset(
            "The bottleneck: seq2seq vs Bahdanau on reverse, length 20",
            ("seq2seq", "bahdanau"),
            # length 20: at 30 the gap took ~2 minutes alone on this machine (issue 17)
            {"task": "seq-reverse", "seq_len": 20, "steps": 1500},
            "Bahdanau pulls away: in a fresh run (seed 0) the lesson held with Bahdanau at step 350 reversing "
            "63 % of held-out sources exactly against seq2seq's ~32 % at its step 600–700 (seq2seq's steps are "
            "cheaper; how many more it takes depends on the machine's load). The by-length chart shows where "
            "seq2seq's share comes from: the short sources — it reversed none of 12 symbols or more. Bahdanau's "
            "alignment map turns into a blurred anti-diagonal one column right of the mirror: at step 350 output "
            "i put its largest weight on source position n + 2 − i in 75 % of the rows of 64 held-out sources, "
            "on n + 1 − i (the symbol it writes) in 14 %.",
            lesson=Lesson(
                "Attention reverses at least 30 % more held-out sources exactly than the fixed context vector.",
                (ahead("bahdanau", "seq2seq", "sequence_accuracy", 0.3),),
            ),
        ),
        Preset(
            "Luong scores: dot vs general vs concat",
            ("luong",),
            # length 12: the lesson at step 250 instead of 350 and cheaper steps (CPU to the lesson 19 → 8 s);
            # at length 15 it took 31.5 s on this machine
            {"task": "seq-reverse", "seq_len": 12, "steps": 600},
            "All three alignment maps turn into the anti-diagonal (output i reads source position n + 1 − i); "
            "concat's is blurred over the neighbours. In a fresh run (seed 0) at the lesson, step 250, dot's and "
            "general's rows put 83 % and 86 % of their weight on that position on average over 64 held-out "
            "sources, concat's 47 %. The simplest score, dot — no attention parameters at all — keeps up with "
            "the parameterised ones: at step 100 dot and general reversed 55 % and 54 % of the sources exactly, "
            "concat 35 %; all three passed 80 % by step 250 (concat first, at 200). Concat, Bahdanau's additive "
            "form, costs the most per step: it keeps a d-vector for every (output, source) pair.",
            sweep=("score", ("dot", "general", "concat")),
            lesson=Lesson(
                "Every score function learns to reverse, the parameter-free dot product included.",
                tuple(at_least(f"luong·{s}", "sequence_accuracy", 0.8) for s in ("dot", "general", "concat")),
            ),
        ),
    ],
    "transformers": [
        Preset(
            "Copy at length 20: GPT vs LSTM",
            ("gpt", "lstm"),
            {"task": "copy", "seq_len": 20, "delay": 0, "steps": 1500, "layers": 2, "until": "accuracy>=0.99"},
            "The Transformer passes 95 % within about 150 steps: every output position can look straight "
            "back at the symbol it must copy, one attention step away, while the LSTM must carry 20 symbols in "
            "its state.",
            lesson=Lesson(
                "The GPT copies 20 symbols; the LSTM does not yet.",
                (at_least("gpt", "accuracy", 0.95), at_most("lstm", "accuracy", 0.5)),
            ),
        ),
        Preset(
            "Reverse: causal GPT vs bidirectional BERT",
            ("gpt", "bert"),
            {"task": "reverse", "seq_len": 20, "steps": 1500, "layers": 2, "until": "accuracy>=0.99"},
            "Both solve it; in layer 2 of the attention maps below (the sharpest, shown first) the answer rows "
            "form an anti-diagonal — output i attends to input L+1−i — and GPT's upper triangle stays empty (it "
            "may not look ahead). In a fresh run at the lesson (step 150) each model's sharpest head put its "
            "largest weight there for 99 % of the answer rows of 64 held-out examples; layer 1 shows no such "
            "pattern.",
            lesson=Lesson(
                "Both reverse the sequence.", (at_least("gpt", "accuracy", 0.95), at_least("bert", "accuracy", 0.95))
            ),
        ),
        Preset(
            "Associative recall: GPT vs LSTM",
            ("gpt", "lstm"),
            # lr 3e-3: the GPT passed 90 % at step ~350; at its default 1e-3 it was at 43 % after 430 steps
            {"task": "recall", "seq_len": 8, "steps": 2000, "layers": 2, "lr": 3e-3, "until": "accuracy>=0.99"},
            "Recall is a lookup: attention matches the query key against every stored key at once, the LSTM has "
            "to squeeze all pairs into one state vector. In a fresh run (seed 0) both sat near 30 % (chance "
            "12.5 %) until step 300; at step 350 the GPT jumped to 98 %, while the LSTM stayed near 31 % through "
            "2,000 steps.",
            lesson=Lesson(
                "The GPT looks up the value of the queried key; the LSTM mostly cannot.",
                (at_least("gpt", "accuracy", 0.9), at_most("lstm", "accuracy", 0.5)),
            ),
        ),
    ],
    "emerging": [
        Preset(
            "Long memory: copy with delay 60, SSM vs LSTM",
            ("ssm", "lstm"),
            {"task": "copy", "seq_len": 3, "delay": 60, "steps": 1500, "until": "accuracy>=0.99"},
            "The S4D layer copies across 60 blank steps within about 100 updates — its kernel is initialised "
            "to decay slowly — while the LSTM sits at chance (measured: 13.5 % at step 190; chance is 12.5 %).",
            lesson=Lesson(
                "The SSM copies across 60 blanks while the LSTM is near chance.",
                (at_least("ssm", "accuracy", 0.95), at_most("lstm", "accuracy", 0.3)),
            ),
        ),
        Preset(
            "Selectivity: SSM vs selective SSM on recall",
            ("ssm", "selective-ssm"),
            # lr 1e-2 (at its default 3e-3 the lesson came ~250 steps later); steps 2000: the step the selective
            # SSM passes 90 % is chaotic in the seed and the scan's rounding (measured at one thread, chunked scan:
            # seed 0 at 950 — 550 before the scan's latest speed-ups — seed 1 not by 1500; the sequential
            # reference loop: 1450, 1100)
            {"task": "recall", "seq_len": 4, "steps": 2000, "lr": 0.01, "until": "accuracy>=0.9"},
            "Recall needs content-dependent memory: which value to keep depends on which key came before it. "
            "The selective SSM gates its state by the input and climbs past 90 % (at step 950 in a fresh run); the "
            "time-invariant S4D kernel stalls near 35 % (measured: 35 % at step 400; chance is 12.5 %).",
            lesson=Lesson(
                "The selective SSM recalls; the time-invariant one stalls.",
                (at_least("selective-ssm", "accuracy", 0.9), at_most("ssm", "accuracy", 0.5)),
            ),
        ),
    ],
    "language": [
        Preset(
            "A character GPT learns a grammar",
            ("gpt",),
            {
                "task": "chars",
                "corpus": "grammar",
                "seq_len": 64,
                "steps": 800,
                "layers": 2,
                "eval_every": 50,
                "lr": 3e-3,
                "batch_size": 64,
            },
            "Watch the samples and the verdict above each: random letters at step 0, then words in sentence "
            "shape. The run stops a few seconds after its held-out loss falls below a quarter of the unigram "
            "baseline (2.89 nats per character), at step 150 — too early for grammar: in fresh runs the "
            "160-character samples at steps 150–250 held 0 or 1 grammatical sentences. Trained on to step 800 "
            "(a fresh run not stopped at the lesson; held-out loss 0.52) the samples were mostly grammatical, "
            "number agreement across the whole subject included: 66 % of the sentences at τ = 0.5 (82 of 125), "
            "52 % at τ = 0.8 (56 of 108).",
            lesson=Lesson(
                "The held-out loss falls below a quarter of the unigram baseline.",
                (below_baseline("gpt", "loss", 0.25),),
            ),
        ),
        Preset(
            "Brackets: GPT vs LSTM on Dyck words",
            ("gpt", "lstm"),
            {"task": "chars", "corpus": "dyck", "seq_len": 64, "steps": 800, "layers": 2, "eval_every": 50},
            "To close a bracket correctly a model must know which one is open, at any depth. Untrained, a quarter "
            "to a third of the closes in a sample are right (fresh run, τ = 0.8: GPT 25 %, LSTM 34 %). Both "
            "held-out losses fall from the unigram baseline, 1.43, to below 0.6 — there the runs stop (the LSTM was "
            "below by step 150–200, the GPT at 250); per second the LSTM's loss falls faster (its steps "
            "cost half the GPT's). Trained on to step 800 (a fresh run not stopped at the lesson) the LSTM closed "
            "88 % right at τ = 0.8 and the GPT 86 %, at losses 0.55 and 0.56: close in quality, and neither "
            "perfect — about half the corpus's words are longer than the 64-character window.",
            lesson=Lesson(
                # at half the baseline both held at their first evaluation (step 50): no lesson yet
                "Both models' held-out loss falls below 42 % of the unigram baseline.",
                (below_baseline("gpt", "loss", 0.42), below_baseline("lstm", "loss", 0.42)),
            ),
        ),
    ],
}
