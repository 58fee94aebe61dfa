"""FLOPs and peak memory of a training step, counted in one pass.

FLOPs: every ATen operation torch's FLOP counter knows (``torch.utils.flop_counter.flop_registry``:
matrix products, convolutions, attention kernels on GPU), counted the same way as
``FlopCounterMode`` but without its per-module bookkeeping, which is most of its cost on the
thousands of small operations of a recurrent loop.

Peak memory, on CPU, where PyTorch keeps no allocator statistics:
A ``TorchDispatchMode`` sees every tensor an operation returns, in forward and in backward. Each new
storage is counted when it appears and uncounted when the last tensor holding it is freed (a weak
reference's callback), so the running total is the bytes alive at each moment of the step and its
maximum is the peak: activations kept for backward, temporaries, gradients. Parameters, optimizer
state and the batch that existed before the step are not included — the peak is what the step adds.
"""

from __future__ import annotations

import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map
from torch.utils.flop_counter import flop_registry

# fused CPU kernels the FLOP counter does not see and a model's formula counts instead
# (``Transformer.uncounted_flops``): when only FLOPs are wanted they need not run at all
FORMULA_COUNTED = frozenset(
    {
        torch.ops.aten._scaled_dot_product_flash_attention_for_cpu,
        torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward,
    }
)


def _zeros_like_meta(func, args, kwargs):
    """The outputs ``func`` would return (shapes, strides, dtypes from its meta kernel), as zeros."""

    def to_meta(v):
        return v.to("meta") if isinstance(v, torch.Tensor) else v

    device = next(v.device for v in tree_flatten(args)[0] if isinstance(v, torch.Tensor))
    meta = func(*tree_map(to_meta, args), **tree_map(to_meta, kwargs))
    return tree_map(
        lambda m: (
            torch.empty_strided(m.shape, m.stride(), dtype=m.dtype, device=device).zero_()
            if isinstance(m, torch.Tensor)
            else m
        ),
        meta,
    )


class StepCounter(TorchDispatchMode):
    """``with StepCounter() as m: step()`` → ``m.flops``, ``m.peak`` bytes (``m.current`` after the step).

    With ``skip_counted_by_formula`` (FLOPs only), the kernels in ``FORMULA_COUNTED`` are not run: they
    return zeros of their outputs' shapes, which changes no count (no operation's FLOPs depend on values)
    and saves the O(n²) attention at large n."""

    def __init__(self, memory: bool = True, skip_counted_by_formula: bool = False):
        super().__init__()
        self.memory = memory
        self.skip = skip_counted_by_formula and not memory
        self.flops = 0
        self.current = 0
        self.peak = 0
        self._live: dict[int, list] = {}  # storage pointer -> [bytes, tensors alive]
        self._seen: set[int] = set()  # id of tensors already counted (in-place results)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.skip and func._overloadpacket in FORMULA_COUNTED:
            return _zeros_like_meta(func, args, kwargs)
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.flops += count(*args, **kwargs, out_val=out)
        if not self.memory:
            return out
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                self._track(t)
        return out

    def _track(self, t: torch.Tensor) -> None:
        if id(t) in self._seen:
            return
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr == 0:
            return
        entry = self._live.get(ptr)
        if entry is None:
            entry = self._live[ptr] = [storage.nbytes(), 0]
            self.current += entry[0]
            self.peak = max(self.peak, self.current)
        entry[1] += 1
        self._seen.add(id(t))
        weakref.finalize(t, self._release, ptr, id(t))

    def _release(self, ptr: int, tid: int) -> None:
        self._seen.discard(tid)
        entry = self._live.get(ptr)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.current -= entry[0]
            del self._live[ptr]
