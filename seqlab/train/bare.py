"""The plain training step the engine is measured against, and that the complexity sweeps time: no
observers, no records, nothing but the step. It lives beside the engine (not in ``seqlab.bench``) so
that ``seqlab.complexity`` and ``seqlab.bench`` both import it from below and neither imports the other."""

from __future__ import annotations

import torch

from .engine import Trainer, training_loss


def bare_step(trainer: Trainer) -> float:
    """The plain loop the engine is measured against: sample, forward, loss, backward, clip, step."""
    batch = trainer.sample()
    loss = training_loss(trainer.task, trainer.model(batch), batch)
    trainer.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(trainer.params, trainer.max_norm)
    trainer.optimizer.step()
    return loss.item()
