r"""Randomness inside a model, drawn from its run's own ``torch.Generator``.

Two runs training side by side in one process must not share a random stream: a draw by one
would shift every later draw of the other, and each curve would depend on its neighbour's timing.
So every draw a model makes while training goes through the ``Noise`` it owns, and the engine
hands that ``Noise`` the run's generator once (``SeqModel.use_generator``):

  * dropout (Srivastava et al. 2014), y = x ⊙ m / (1 − p) with m_i ~ Bernoulli(1 − p): ``F.dropout``
    and SDPA's ``dropout_p`` take no generator, so ``dropout`` below draws the mask itself;
  * the teacher-forcing coin of the encoder–decoders (``Noise.rand``).

Initial weights are the exception: ``nn.init`` and the modules' own ``reset_parameters`` draw from
the process's global generator and take none. ``global_rng(seed)`` builds under one process-wide
lock with that generator forked and seeded, so the weights depend on the seed alone. That is safe
because nothing else in seqlab draws from the global generator while it may run beside a build:
training draws from ``Noise`` and the tasks' generators, and the probes that construct modules
outside a run (``counter_misses``, ``sdpa_hidden_from_counter``) take the same lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

_GLOBAL_RNG = threading.Lock()


@contextmanager
def global_rng(seed: int) -> Iterator[None]:
    """Run the body with the global CPU generator seeded to ``seed``, restored afterwards, and no other
    ``global_rng`` body running meanwhile (model construction: see the module docstring)."""
    with _GLOBAL_RNG, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def dropout(x: torch.Tensor, p: float, training: bool, generator: torch.Generator | None) -> torch.Tensor:
    """Inverted dropout with the mask drawn from ``generator`` (None: the global one)."""
    if not training or p == 0.0:
        return x
    keep = torch.empty_like(x).bernoulli_(1.0 - p, generator=generator)  # m_i ~ Bernoulli(1 − p)
    return x * keep.div_(1.0 - p)


class Noise:
    """The random source of one model: its run's generator, or the global one until it is given."""

    def __init__(self) -> None:
        self.generator: torch.Generator | None = None

    def dropout(self, x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
        return dropout(x, p, training, self.generator)

    def rand(self, *shape: int, device: torch.device) -> torch.Tensor:
        """U(0, 1) draws on ``device`` (the generator must live there too)."""
        return torch.rand(*shape, device=device, generator=self.generator)


class Dropout(nn.Module):
    """``nn.Dropout`` drawing from the model's ``Noise``."""

    def __init__(self, p: float, noise: Noise):
        super().__init__()
        self.p, self.noise = p, noise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.noise.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
