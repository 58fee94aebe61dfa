"""Character language modelling: predict the next character of a text.

A causal model reads x_1 … x_T and predicts x_{t+1} at every position t (output kind ``tokens``),
the objective of Shannon's letter-guessing game and of every GPT (Radford et al. 2018). The text is
generated here — nothing is downloaded — or uploaded by the user:

  * ``grammar`` — sentences from a small probabilistic context-free grammar of English-like clauses
    with number agreement ("the old cats near a dog see the bird ."), relative clauses and
    coordination: local spelling, word-level choices and one long-range constraint (a plural subject
    takes a plural verb, however long the phrase in between).
  * ``dyck`` — well-nested brackets of two kinds, "( [ ] ( ) )", one word per line: to predict a
    closing bracket a model must remember which bracket is open, at any depth (a counter or a stack).
  * ``text`` — the user's own UTF-8 text (``register_text``): the option ``text_id`` names it by the
    hash of its content, so a configuration or a link holds the id, never the text itself.

A sample from a model trained on a generated corpus is judged against the rules that made it
(``Chars.assess``): the share of its sentences the grammar can generate, with and without number
agreement, or of its closing brackets that close the right bracket.

The corpus is split 90 / 10 by position: training windows come from the first part, the held-out
batch from the rest. The blind baseline is the unigram entropy of the training text: the loss of
predicting each character's frequency whatever came before, and the accuracy of always predicting
the most common character.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
import threading
from collections import Counter, OrderedDict
from typing import Literal

import torch
from pydantic import Field

from ..errors import ConfigError
from .base import Baseline, Batch, Task, TaskOptions, TaskSpec

CORPUS_CHARS = 200_000  # size of a generated corpus
MAX_UPLOAD_BYTES = 2_000_000
MAX_VOCAB = 256
HELD_OUT = 0.1

# -- the generated corpora -----------------------------------------------------------------------
_NOUNS = {
    "cat": "cats", "dog": "dogs", "bird": "birds", "child": "children", "teacher": "teachers",
    "student": "students", "fox": "foxes", "mouse": "mice", "river": "rivers", "city": "cities",
}  # fmt: skip
_VERBS = {  # plural form -> singular form
    "see": "sees", "chase": "chases", "like": "likes", "follow": "follows", "watch": "watches",
    "find": "finds", "help": "helps", "know": "knows",
}  # fmt: skip
_INTRANSITIVE = {"sleep": "sleeps", "run": "runs", "sing": "sings", "wait": "waits"}
_ADJECTIVES = ("old", "small", "quick", "quiet", "happy", "brown", "clever")
_PREPOSITIONS = ("near", "behind", "with", "under")


def _noun_phrase(r: random.Random, plural: bool, depth: int) -> list[str]:
    words = [r.choice(("the", "some")) if plural else r.choice(("the", "a", "one"))]
    if r.random() < 0.4:
        words.append(r.choice(_ADJECTIVES))
    noun = r.choice(list(_NOUNS))
    words.append(_NOUNS[noun] if plural else noun)
    if depth < 2 and r.random() < 0.25:  # a prepositional phrase: the agreement must reach over it
        words += [r.choice(_PREPOSITIONS), *_noun_phrase(r, r.random() < 0.5, depth + 1)]
    elif depth < 2 and r.random() < 0.15:  # a relative clause, agreeing with its own head noun
        words += ["that", *_verb_phrase(r, plural, depth + 1)]
    return words


def _verb_phrase(r: random.Random, plural: bool, depth: int) -> list[str]:
    if r.random() < 0.3:
        verb = r.choice(list(_INTRANSITIVE))
        return [verb if plural else _INTRANSITIVE[verb]]
    verb = r.choice(list(_VERBS))
    return [verb if plural else _VERBS[verb], *_noun_phrase(r, r.random() < 0.5, depth + 1)]


def _sentence(r: random.Random) -> str:
    plural = r.random() < 0.5
    words = [*_noun_phrase(r, plural, 0), *_verb_phrase(r, plural, 0)]
    if r.random() < 0.2:
        plural2 = r.random() < 0.5
        words += ["and", *_noun_phrase(r, plural2, 1), *_verb_phrase(r, plural2, 1)]
    return " ".join(words) + " ."


def _dyck_word(r: random.Random, max_depth: int = 6) -> str:
    out, stack = [], []
    while True:
        if stack and (len(stack) >= max_depth or r.random() < 0.45):
            out.append(")" if stack.pop() == "(" else "]")
            if not stack and r.random() < 0.35:
                return " ".join(out)
        else:
            b = r.choice("([")
            stack.append(b)
            out.append(b)


# -- judging generated text against the generating rules ------------------------------------------------
_NUMBER = {  # word -> plural? for every noun and verb form
    **{n: False for n in _NOUNS}, **{p: True for p in _NOUNS.values()},
    **{v: True for v in (*_VERBS, *_INTRANSITIVE)}, **{v: False for v in (*_VERBS.values(), *_INTRANSITIVE.values())},
}  # fmt: skip
_DETERMINERS = {"the": None, "some": True, "a": False, "one": False}  # None: either number
_TRANSITIVE_FORMS = {*_VERBS, *_VERBS.values()}
_INTRANSITIVE_FORMS = {*_INTRANSITIVE, *_INTRANSITIVE.values()}
_NOUN_FORMS = {*_NOUNS, *_NOUNS.values()}


def _agrees(plural: bool | None, word: str, agree: bool) -> bool:
    return not agree or plural is None or _NUMBER[word] == plural


def _parse_np(w: list[str], i: int, depth: int, agree: bool) -> set[tuple[int, bool]]:
    """Every (end, plural) such that w[i:end] is a noun phrase the grammar can make at ``depth``."""
    if i >= len(w) or w[i] not in _DETERMINERS:
        return set()
    det, i = _DETERMINERS[w[i]], i + 1
    if i < len(w) and w[i] in _ADJECTIVES:
        i += 1
    if i >= len(w) or w[i] not in _NOUN_FORMS or not _agrees(det, w[i], agree):
        return set()
    plural, i = _NUMBER[w[i]], i + 1
    ends = {(i, plural)}
    if depth < 2 and i < len(w) and w[i] in _PREPOSITIONS:
        ends |= {(e, plural) for e, _ in _parse_np(w, i + 1, depth + 1, agree)}
    if depth < 2 and i < len(w) and w[i] == "that":
        ends |= {(e, plural) for e in _parse_vp(w, i + 1, plural, depth + 1, agree)}
    return ends


def _parse_vp(w: list[str], i: int, plural: bool, depth: int, agree: bool) -> set[int]:
    if i >= len(w) or w[i] not in _NUMBER or not _agrees(plural, w[i], agree):
        return set()
    if w[i] in _INTRANSITIVE_FORMS:
        return {i + 1}
    if w[i] in _TRANSITIVE_FORMS:
        return {e for e, _ in _parse_np(w, i + 1, depth + 1, agree)}
    return set()


def grammatical(sentence: str, agree: bool = True) -> bool:
    """Whether the grammar above can generate ``sentence`` (one line, "… ."); with ``agree=False``
    number agreement is not checked (right words in the right places, wrong forms allowed)."""
    w = sentence.split(" ")
    for e1, plural in _parse_np(w, 0, 0, agree):
        for e2 in _parse_vp(w, e1, plural, 0, agree):
            if w[e2:] == ["."]:
                return True
            if e2 < len(w) and w[e2] == "and":
                for e3, plural2 in _parse_np(w, e2 + 1, 1, agree):
                    if any(w[e4:] == ["."] for e4 in _parse_vp(w, e3, plural2, 1, agree)):
                        return True
    return False


def bracket_errors(text: str) -> tuple[int, int]:
    """(closes, wrong) over Dyck lines, character by character (spacing is not judged): every closing
    bracket and every line end is a close; it is wrong when it closes the other kind, closes nothing,
    or ends a line with brackets still open. The text after the last newline is unfinished: its end
    is not a close."""
    closes = wrong = 0
    lines = text.split("\n")
    for n, line in enumerate(lines):
        stack = []
        for b in line:
            if b in "([":
                stack.append(b)
            elif b in ")]":
                closes += 1
                wrong += not stack or {"(": ")", "[": "]"}[stack.pop()] != b
        if n < len(lines) - 1:
            closes += 1
            wrong += bool(stack)
    return closes, wrong


@functools.cache
def generated_corpus(kind: str, seed: int = 0, size: int = CORPUS_CHARS) -> str:
    """A deterministic corpus of about ``size`` characters (cached: every run of a setting shares it)."""
    r = random.Random(f"{kind}:{seed}")
    parts, n = [], 0
    make = _sentence if kind == "grammar" else _dyck_word
    while n < size:
        parts.append(make(r))
        n += len(parts[-1]) + 1
    return "\n".join(parts) + "\n"


# -- uploaded texts, kept by content hash -----------------------------------------------------------------
MAX_TEXTS = 16  # uploads kept per process (≤ 32 MB); the oldest goes first (a run already started keeps its text)
_TEXTS: OrderedDict[str, str] = OrderedDict()
_TEXTS_LOCK = threading.Lock()


def validate_text(data: bytes | str, min_chars: int = 2) -> str:
    """The user's text, checked: UTF-8, not binary, not empty, at most MAX_UPLOAD_BYTES, at most MAX_VOCAB
    distinct characters, long enough for the training windows. Each failure is a ConfigError on ``task.text``."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ConfigError(
            f"the file is {len(data):,} bytes; the limit is {MAX_UPLOAD_BYTES:,} bytes "
            f"({MAX_UPLOAD_BYTES / 1e6:.0f} MB) — upload an excerpt",
            "task.text",
        )
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # the byte-order mark Windows editors write for "Unicode"
        raise ConfigError("not UTF-8 text: this is UTF-16; save the file as UTF-8 plain text", "task.text")
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")  # a UTF-8 byte-order mark is not part of the text
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"not UTF-8 text (byte {e.start} is 0x{data[e.start]:02x}); save the file as UTF-8 plain text", "task.text"
        ) from None
    if "\x00" in text:  # valid UTF-8 yet never in text: an archive, an image, a UTF-16 file without its mark
        raise ConfigError(
            f"a binary file, not text (NUL byte at {text.index(chr(0)):,}); upload a plain-text file", "task.text"
        )
    text = text.replace("\r\n", "\n")
    if not text.strip():
        raise ConfigError("the text is empty (or only white space); upload a file with some text", "task.text")
    vocab = set(text)
    if len(vocab) > MAX_VOCAB:
        raise ConfigError(
            f"the text uses {len(vocab)} distinct characters; at most {MAX_VOCAB} are supported (a character "
            "model needs a small alphabet) — upload text in one script",
            "task.text",
        )
    if len(text) < min_chars:
        raise ConfigError(
            f"the text has {len(text)} character{'s' if len(text) != 1 else ''}; at least {min_chars} are needed",
            "task.text",
        )
    return text


def register_text(data: bytes | str) -> str:
    """Validate the user's text and keep it for this process; returns its id (for the option ``text_id``)."""
    text = validate_text(data)
    text_id = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    with _TEXTS_LOCK:
        _TEXTS[text_id] = text
        _TEXTS.move_to_end(text_id)
        while len(_TEXTS) > MAX_TEXTS:
            _TEXTS.popitem(last=False)
    return text_id


def registered_text(text_id: str) -> str:
    with _TEXTS_LOCK:
        text = _TEXTS.get(text_id)
    if text is None:
        raise ConfigError(
            f"no uploaded text with id {text_id!r} in this process; upload the file again "
            "(or pass --text-file on the command line)",
            "task.text_id",
        )
    return text


# -- the task -----------------------------------------------------------------------------------------------
class CharOptions(TaskOptions):
    corpus: Literal["grammar", "dyck", "text"] = Field(
        "grammar", description="generated English-like sentences, generated brackets, or your uploaded text"
    )
    text_id: str = Field("", max_length=64, description="id of an uploaded text (corpus='text')")
    corpus_seed: int = Field(0, ge=0, le=2**31 - 1, description="seed of the generated corpus")


@functools.lru_cache(maxsize=16)
def _encoded(text: str) -> tuple[str, torch.Tensor]:
    alphabet = "".join(sorted(set(text)))
    index = {c: i for i, c in enumerate(alphabet)}
    return alphabet, torch.tensor([index[c] for c in text], dtype=torch.long)


class Chars(Task):
    name = "chars"
    title = "Character language model"
    description = "Predict the next character of a generated or uploaded text."
    citation = "Shannon (1951), Prediction and Entropy of Printed English; Radford et al. (2018)"
    output_kind = "tokens"
    Options = CharOptions
    default_seq_len = 64
    seq_len_meaning = "context length T (characters)"

    def validate(self) -> None:
        if self.options.corpus == "text" and not self.options.text_id:
            raise ConfigError("corpus 'text' needs an uploaded text (upload a file, or --text-file)", "task.text_id")
        n = len(self.text)
        if n < 2 * (self.seq_len + 1) / HELD_OUT:
            raise ConfigError(
                f"the text has {n:,} characters: too short for windows of {self.seq_len + 1} in both its training "
                f"and held-out parts (needs ≥ {math.ceil(2 * (self.seq_len + 1) / HELD_OUT):,}); "
                "lower the context length or use a longer text",
                "task.seq_len",
            )

    @functools.cached_property
    def text(self) -> str:
        o = self.options
        return registered_text(o.text_id) if o.corpus == "text" else generated_corpus(o.corpus, o.corpus_seed)

    @property
    def alphabet(self) -> str:
        return _encoded(self.text)[0]

    @property
    def ids(self) -> torch.Tensor:
        return _encoded(self.text)[1]

    @property
    def split(self) -> int:
        return int(len(self.text) * (1 - HELD_OUT))

    @property
    def spec(self) -> TaskSpec:
        V = len(self.alphabet)
        return TaskSpec("tokens", V, "tokens", V, self.seq_len)

    def _windows(self, part: torch.Tensor, batch_size: int, generator: torch.Generator) -> Batch:
        T = self.seq_len
        start = torch.randint(0, len(part) - T - 1, (batch_size,), generator=generator)
        w = part[start[:, None] + torch.arange(T + 1)]  # (B, T+1)
        return Batch(w[:, :-1], w[:, 1:])

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        return self._windows(self.ids[: self.split], batch_size, generator)

    def sample_heldout(self, batch_size: int, generator: torch.Generator) -> Batch:
        return self._windows(self.ids[self.split :], batch_size, generator)

    def baseline(self) -> Baseline:
        counts = Counter(self.text[: self.split])
        total = sum(counts.values())
        entropy = -sum(c / total * math.log(c / total) for c in counts.values())
        top = max(counts.values()) / total
        return Baseline(loss=entropy, metrics={"accuracy": top})

    # a whole window of characters is never predicted exactly: next-character accuracy is the metric
    @property
    def metrics(self) -> tuple[str, ...]:
        return ("accuracy",)

    @torch.no_grad()
    def evaluate(self, pred: torch.Tensor, batch: Batch) -> dict[str, float]:
        return {"accuracy": super().evaluate(pred, batch)["accuracy"]}

    # display and sampling
    def encode(self, text: str) -> torch.Tensor:
        index = {c: i for i, c in enumerate(self.alphabet)}
        unknown = sorted({c for c in text if c not in index})
        if unknown:
            shown = ", ".join(repr(c) for c in unknown[:5])
            raise ConfigError(f"characters not in this corpus's alphabet: {shown}", "sampling.prompt")
        return torch.tensor([index[c] for c in text], dtype=torch.long)

    @property
    def default_prompt(self) -> str:
        """What a sample continues unless told otherwise: the first word of a line of this corpus."""
        first = self.text.split("\n", 1)[0]
        return first[: first.find(" ") + 1] if " " in first[:40] else first[:4]

    def assess(self, prompt: str, sample: str) -> dict | None:
        """How well ``prompt + sample`` follows the rules that generated the corpus, on whole lines only
        (the first counts when the prompt starts a line of the corpus, the unfinished last never):
        ``grammar`` — sentences the grammar can generate, with and without number agreement;
        ``dyck`` — closing brackets (and line ends) that close the right bracket. None for uploaded text."""
        corpus = self.options.corpus
        if corpus == "text":
            return None
        text = prompt + sample
        starts_line = ("\n" + prompt.split("\n", 1)[0]) in self.text
        lines = text.split("\n")[(0 if starts_line else 1) :]
        if corpus == "dyck":
            closes, wrong = bracket_errors("\n".join(lines))
            return {"closes": closes, "right": closes - wrong, "summary": f"{closes - wrong} / {closes} closed right"}
        whole = lines[:-1]
        ok = sum(grammatical(line) for line in whole)
        words_ok = sum(grammatical(line, agree=False) for line in whole)
        return {
            "sentences": len(whole),
            "grammatical": ok,
            "grammatical_ignoring_agreement": words_ok,
            "summary": f"{ok} / {len(whole)} sentences grammatical ({words_ok} ignoring agreement)",
        }

    def decode(self, ids) -> str:
        return "".join(self.alphabet[int(i)] for i in ids)

    def source_text(self, tokens) -> list[str]:
        return [repr(self.alphabet[int(t)])[1:-1] or "·" for t in tokens]
