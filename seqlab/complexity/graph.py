"""Sequential depth and maximum path length, measured on the computation graph.

Vaswani et al. (2017), Table 1, compares layer types by three columns: complexity per layer,
the minimum number of *sequential operations*, and the *maximum path length* between any two
positions — the number of steps a signal from input position 1 must pass to reach the last
output. The table states them (recurrent O(n) and O(n); self-attention O(1) and O(1)); here they are
counted on the graph a model actually builds:

  * ``sequential_depth`` — the longest chain of dependent nodes in the autograd graph of one
    forward pass (every node waits for the nodes it reads). Nothing can run it in fewer steps,
    however many cores there are.
  * ``max_path_length`` — the fewest arithmetic operations on any dependency path from input
    position 1 to the model's last output. Autograd nodes do not know which *positions* of a tensor
    depend on which, so the path is traced with a ``TorchFunctionMode`` over two forward passes that
    differ only at position 1: an operation's output lies on a path from position 1 exactly when it
    changes. Pure data movement (views, reshapes, ``unbind``, ``stack``, indexing) costs 0 steps, every
    other operation 1.

PyTorch's fused RNN/LSTM/GRU kernel is a single graph node that hides its n steps, and so is the selective
SSM's chunked scan, so every model is traced in its ``SeqModel.reference_mode``: the recurrent models run
their explicit per-step loop (``Recurrent.unrolled``, the same function with the same weights; tested to
agree), the selective SSM its step-by-step scan. The counts are in operations, so constants depend on how
a cell is written; what the table is about is how they grow with n.
"""

from __future__ import annotations

import warnings

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_map

from ..models.base import SeqModel
from ..tasks.base import Batch

# operations that only move or reinterpret data: 0 steps, and the per-element distances move with the data
MOVE = {
    "view", "reshape", "unbind", "stack", "cat", "chunk", "split", "select", "narrow", "transpose", "permute",
    "contiguous", "unsqueeze", "squeeze", "expand", "expand_as", "flatten", "unflatten", "__getitem__", "clone",
    "detach", "flip", "t", "__get__", "movedim", "repeat", "roll", "pad", "index_select",
}  # fmt: skip
# one step, element by element (inputs broadcast against each other)
ELEMENTWISE = {
    "add", "sub", "mul", "div", "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
    "__truediv__", "__rtruediv__", "__neg__", "neg", "tanh", "sigmoid", "relu", "gelu", "silu", "exp", "log",
    "softplus", "where", "masked_fill", "pow", "__pow__", "sqrt", "rsqrt", "abs", "clamp", "square", "dropout",
    "add_", "mul_", "sub_", "div_", "real", "imag", "cos", "sin", "maximum", "minimum", "sign", "log1p", "expm1",
    "addcmul",
}  # fmt: skip
# one step, each output row mixes its input row (the last dimension): linear maps, norms, softmax over keys
ROWWISE = {"topk", "linear", "layer_norm", "rms_norm", "softmax", "log_softmax", "normalize"}
# fresh tensors that take only a shape or dtype from their input
NEW = {"new_zeros", "new_ones", "new_full", "new_empty", "new_tensor", "zeros_like", "ones_like", "full_like",
       "empty_like", "rand_like", "randn_like", "randint_like", "retain_grad", "requires_grad_"}  # fmt: skip
MATMUL = {"matmul", "__matmul__", "bmm", "einsum_ij_jk"}


def graph_output(model: SeqModel, batch: Batch) -> torch.Tensor:
    """The model's prediction, computed so that every sequential step is its own graph node."""
    with model.reference_mode():
        return model(batch).pred


def sequential_depth(output: torch.Tensor) -> int:
    """Nodes on the longest chain of the autograd graph that produced ``output`` (leaves excluded)."""
    root = output.grad_fn
    if root is None:
        return 0
    # iterative post-order: the graph of an unrolled loop is thousands of nodes deep
    depth: dict = {}
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if node in depth:
            continue
        children = [f for f, _ in node.next_functions if f is not None and type(f).__name__ != "AccumulateGrad"]
        if expanded:
            depth[node] = 1 + max((depth[c] for c in children), default=0)
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if c not in depth)
    return depth[root]


INF = float("inf")


def _tensors(args, kwargs) -> list[torch.Tensor]:
    """The tensors among a call's arguments (or results): directly, or in a tuple or list (stack, cat)."""
    found = []
    for v in (*args, *kwargs.values()):
        if isinstance(v, torch.Tensor):
            found.append(v)
        elif isinstance(v, (tuple, list)):
            found.extend(t for t in v if isinstance(t, torch.Tensor))
    return found


class _Distances(TorchFunctionMode):
    """Carries, for every tensor that depends on input position 1, the fewest operations from position 1
    to each of its elements: a number when it is the same for every element (most tensors), else a float64
    tensor of the tensor's shape (inf where an element does not depend on position 1). The source is set
    with ``mark``: the model's input, 0 at position 1 and inf elsewhere."""

    def __init__(self):
        super().__init__()
        self.dist: dict[int, float | torch.Tensor] = {}
        self.keep: list[torch.Tensor] = []  # keeps tensors alive so their ids stay unique

    def mark(self, t: torch.Tensor) -> None:
        d = torch.full(t.shape, INF, dtype=torch.float64)  # (B, T) tokens or (B, T, F) features
        d[:, 0] = 0.0
        self._set(t, d)

    def _set(self, t: torch.Tensor, d) -> None:
        if isinstance(d, torch.Tensor) and d.numel() and bool((d == d.reshape(-1)[0]).all()):
            d = d.reshape(-1)[0].item()  # the same everywhere: keep a number (most tensors, and much faster)
        self.dist[id(t)] = d
        self.keep.append(t)

    def full(self, t: torch.Tensor) -> torch.Tensor:
        """Per-element distances of ``t`` as a tensor (inf if ``t`` does not depend on position 1)."""
        d = self.dist.get(id(t), INF)
        return d if isinstance(d, torch.Tensor) else torch.full(t.shape, d, dtype=torch.float64)

    def least(self, t: torch.Tensor) -> float:
        d = self.dist.get(id(t), INF)
        return d.min().item() if isinstance(d, torch.Tensor) else d

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        if name in NEW:
            return out
        flat_in = _tensors(args, kwargs)
        reached = [t for t in flat_in if id(t) in self.dist]
        if not reached:
            return out  # nothing here depends on position 1
        outs = _tensors((out,), {})
        if name in MOVE:
            dists = self._move(func, args, kwargs, flat_in, reached, outs)
        else:
            dists = [self._step(name, args, kwargs, reached, o) for o in outs]
        for o, d in zip(outs, dists, strict=True):
            if not isinstance(d, torch.Tensor) or d.shape == o.shape:
                self._set(o, d)
        return out

    def _move(self, func, args, kwargs, flat_in, reached, outs):
        floats = [t for t in flat_in if t.is_floating_point() or id(t) in self.dist]
        values = {self.dist.get(id(t), INF) for t in floats}
        if len(values) == 1 and not isinstance(v := next(iter(values)), torch.Tensor):
            return [v] * len(outs)  # the same distance everywhere: moving data keeps it

        def swap(v):  # the data moves with its distances; an index stays an index
            return self.full(v) if isinstance(v, torch.Tensor) and v.is_floating_point() else v

        data = self.full(args[0]) if isinstance(args[0], torch.Tensor) else tree_map(swap, args[0])
        moved = func(data, *tree_map(swap, args[1:]), **tree_map(swap, kwargs))
        return _tensors((moved,), {})

    def _step(self, name: str, args, kwargs, reached, out: torch.Tensor):
        uniform = all(not isinstance(self.dist[id(t)], torch.Tensor) for t in reached)
        shape = out.shape
        try:
            if name == "embedding" and reached[0] is args[0]:  # a lookup: 0 steps, position by position
                return self.full(args[0]).unsqueeze(-1).expand(shape)
            if name in ("index_add", "index_add_"):  # out[index[i]] += source[i]: one step per source row
                dim, index, source = args[1], args[2], args[3]
                base = self.full(args[0]).clone()
                with warnings.catch_warnings():  # index_reduce is a "beta" API
                    warnings.simplefilter("ignore", UserWarning)
                    return 1 + base.index_reduce_(dim, index, self.full(source), "amin", include_self=True)
            if uniform:
                if name != "conv1d":
                    return 1 + min(self.dist[id(t)] for t in reached)
            elif name in ELEMENTWISE:
                return 1 + torch.stack([self.full(t).expand(shape) for t in reached]).amin(0)
            elif name in ROWWISE and reached[0] is args[0] and shape[:-1] == args[0].shape[:-1]:
                dim = kwargs.get("dim", args[1] if name.endswith("softmax") and len(args) > 1 else -1)
                if dim in (-1, args[0].dim() - 1):
                    return (1 + self.full(args[0]).amin(-1, keepdim=True)).expand(shape)
            elif name in MATMUL and len(args) >= 2 and args[0].dim() >= 2 and args[1].dim() >= 2:
                a, b = self.full(args[0]).amin(-1, keepdim=True), self.full(args[1]).amin(-2, keepdim=True)
                return (1 + torch.minimum(a, b)).expand(shape)
            if name == "conv1d" and args[0].dim() == 3:  # min over the window (and the channels)
                return self._conv1d(args, kwargs, out)
        except (RuntimeError, IndexError, TypeError):
            pass
        # anything else (FFT, a fused kernel, attention in one call, reductions): every output element
        # may read every input element
        return 1 + min(self.least(t) for t in reached)

    def _conv1d(self, args, kwargs, out):
        x, w = args[0], args[1]
        pad = kwargs.get("padding", args[4] if len(args) > 4 else 0)
        pad = pad[0] if isinstance(pad, (tuple, list)) else pad
        k = w.shape[-1]
        d = self.full(x).amin(1, keepdim=True)  # (B, 1, T)
        d = torch.nn.functional.pad(d, (pad, pad), value=INF)
        window = -torch.nn.functional.max_pool1d(-d, k, stride=1)  # (B, 1, T')
        return (1 + window[..., : out.shape[-1]]).expand(out.shape)


def structure(model: SeqModel, batch: Batch) -> dict:
    """``sequential_depth`` and ``max_path_length`` of ``model`` on ``batch`` from one traced forward pass.
    The path is defined for models with one output per sequence (a label or a number, e.g. parity), whose
    prediction reads the last position; it is None for per-position outputs (the tracing is per tensor
    and element, but a head applied to all positions at once would report the shortest of them)."""
    was = model.training
    model.eval()  # no dropout
    try:
        with _Distances() as mode:
            mode.mark(batch.x)
            pred = graph_output(model, batch)
    finally:
        model.train(was)
    path = None
    if model.spec.output_kind in ("label", "real"):
        d = mode.least(pred)
        if d == INF:
            raise RuntimeError("the output does not depend on input position 1")
        path = int(d)
    return {"sequential_depth": sequential_depth(pred), "max_path_length": path}


def max_path_length(model: SeqModel, batch: Batch) -> int | None:
    """Fewest operations from input position 1 to the model's output (see ``structure``)."""
    return structure(model, batch)["max_path_length"]
