"""Every model, by name, and the one place that decides which model can train on which task.

Adding a model = one file + one line in ``MODELS``.
"""

from __future__ import annotations

from ..errors import IncompatibleError, unknown_name
from ..tasks.base import Task
from .base import SeqModel
from .encdec import EncoderDecoderTransformer
from .mlp import MLP
from .moe import MoE
from .noise import global_rng
from .recurrent import GRU, LSTM, ElmanRNN
from .seq2seq import Bahdanau, Luong, Seq2Seq
from .ssm import S4D, SelectiveSSM
from .transformer import BERT, GPT

MODELS: dict[str, type[SeqModel]] = {
    "mlp": MLP,
    "rnn": ElmanRNN,
    "lstm": LSTM,
    "gru": GRU,
    "gpt": GPT,
    "bert": BERT,
    "moe": MoE,
    "ssm": S4D,
    "selective-ssm": SelectiveSSM,
    "seq2seq": Seq2Seq,
    "bahdanau": Bahdanau,
    "luong": Luong,
    "transformer": EncoderDecoderTransformer,
}


def model_class(name: str) -> type[SeqModel]:
    try:
        return MODELS[name]
    except KeyError:
        raise unknown_name("model", name, MODELS, "model.name") from None


def name_of(cls: type[SeqModel]) -> str:
    return next(k for k, v in MODELS.items() if v is cls)


def incompatibility(cls: type[SeqModel], task: Task | type[Task]) -> str | None:
    """Why ``cls`` cannot train on ``task``, or None if it can. Decided from declared capabilities."""
    kind = task.output_kind
    if kind not in cls.outputs:
        able = [name for name, other in MODELS.items() if kind in other.outputs]
        return f"{cls.info.title} cannot produce '{kind}' outputs (it makes: {', '.join(sorted(cls.outputs))})" + (
            f"; models that can: {', '.join(able)}" if able else ""
        )
    spec_kind = task.spec.input_kind if isinstance(task, Task) else None
    if spec_kind and spec_kind not in cls.input_kinds:
        return f"{cls.info.title} cannot read '{spec_kind}' inputs"
    if cls.fixed_length and task.variable_length:
        return f"{cls.info.title} needs one fixed input length, but '{task.name}' mixes lengths"
    return None


def check_compatible(cls: type[SeqModel], task: Task) -> None:
    why = incompatibility(cls, task)
    if why:
        raise IncompatibleError(f"model '{name_of(cls)}' cannot train on task '{task.name}': {why}", "model.name")


def build_model(cfg, task: Task, seed: int | None = None) -> SeqModel:
    """The model for ``cfg`` on ``task``. With a ``seed`` its initial weights depend on the seed alone,
    whatever other threads do (built under ``global_rng``); without, they are drawn from torch's global
    generator as it stands."""
    cls = model_class(cfg.name)
    check_compatible(cls, task)
    if seed is None:
        return cls(cfg, task.spec)
    with global_rng(seed):
        return cls(cfg, task.spec)
