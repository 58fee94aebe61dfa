"""Models declare what they can show (``Capabilities``); every declaration is kept, every family's
step-by-step trace agrees with its fused forward, and nothing in seqlab/ or pages/ inspects a model's type."""

import ast
import pathlib

import pytest
import torch

from seqlab.config import RunConfig
from seqlab.errors import CapabilityError
from seqlab.models import MODELS, build_model, incompatibility
from seqlab.models.base import Capabilities, SeqModel
from seqlab.models.moe import MoEFFN
from seqlab.models.noise import Noise
from seqlab.models.transformer import Attention
from seqlab.tasks import make_task

ROOT = pathlib.Path(__file__).resolve().parents[1]
ATOL = 1e-5


def tiny(name: str, **flat):
    task = "reverse" if "tokens" in MODELS[name].outputs else "seq-reverse"
    options = {"heads": 2} if "heads" in MODELS[name].Options.model_fields else {}
    cfg = RunConfig.from_flat({"model": name, "task": task, "seq_len": 6, "hidden": 8, "layers": 2, **options, **flat})
    t = cfg.make_task()
    m = build_model(cfg.model, t, seed=0).eval()
    return m, t, t.sample(3, torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", list(MODELS))
def test_every_declared_capability_answers_and_every_other_one_refuses_by_name(name):
    m, task, batch = tiny(name)
    caps = m.capabilities
    assert isinstance(caps, Capabilities)
    with pytest.raises(AttributeError):  # frozen: a model cannot change what its class declares
        caps.causal = not caps.causal
    pred = m(batch).pred
    calls = {
        "attention_maps": lambda: m.attention_maps(batch),
        "cell_trace": lambda: m.cell_trace(batch),
        "expert_load": lambda: m.expert_load(),
        "conv_kernel": lambda: m.conv_kernel(task.spec.length),
    }
    for flag, call in calls.items():
        if not getattr(caps, flag):
            with pytest.raises(CapabilityError, match=f"{flag}=False"):
                call()
            continue
        got = call()
        if flag == "attention_maps":  # per layer (B, heads, rows, source positions), rows are distributions
            assert all(a.shape[0] == 3 and a.shape[-1] == task.spec.length for a in got)
            assert torch.allclose(got[0].sum(-1), torch.ones(got[0].shape[:-1]), atol=ATOL)
        elif flag == "cell_trace":
            assert got.pred.shape == pred.shape and len(got.h) == task.spec.length
        elif flag == "expert_load":
            assert len(got) == 2 and all(torch.isclose(load.sum(), torch.tensor(1.0)) for load in got)
        else:
            assert [k.shape for k in got] == [(8, task.spec.length)] * 2


def test_declaring_a_capability_without_its_method_is_refused_when_the_class_is_defined():
    with pytest.raises(
        CapabilityError, match=r"declares attention_maps, expert_load .* attention_maps\(\) or expert_load\(\)"
    ):

        class Plugin(SeqModel):
            capabilities = Capabilities(causal=True, attention_maps=True, expert_load=True)

    class Honest(SeqModel):  # causal promises no method: the forward itself is the promise
        capabilities = Capabilities(causal=True)

    assert Honest.capabilities.causal and not Honest.capabilities.attention_maps


@pytest.mark.parametrize("name", [n for n, cls in MODELS.items() if "tokens" in cls.outputs])
def test_a_model_declared_causal_never_lets_a_later_token_change_an_earlier_output(name):
    t = make_task("reverse", 6)
    if incompatibility(MODELS[name], t):
        pytest.skip("declared incompatible")
    m, task, batch = tiny(name)
    before = m(batch).pred
    batch.x = batch.x.clone()
    batch.x[:, -1] = (batch.x[:, -1] + 1) % task.spec.input_size
    moved = (m(batch).pred[:, :-1] - before[:, :-1]).abs().max().item()
    if m.capabilities.causal:
        assert moved < 1e-6
    else:
        assert moved > 1e-4


# -- each family's trace against its fused forward -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_recurrent_cell_trace_reproduces_the_fused_kernel(name):
    m, _, batch = tiny(name)
    trace = m.cell_trace(batch)
    assert torch.allclose(trace.pred, m(batch).pred, atol=ATOL)
    fused, _ = m.rnn(m.encoder(batch.x))  # (B, T, H), last layer
    assert torch.allclose(torch.stack(trace.h, 1), fused, atol=ATOL)
    expected = {"rnn": set(), "lstm": {"input", "forget", "output"}, "gru": {"reset", "update"}}[name]
    assert set(trace.gates) == expected
    with m.reference_mode():  # the complexity tracer's path: the same loop inside forward
        assert torch.allclose(m(batch).pred, trace.pred, atol=ATOL)


@pytest.mark.parametrize("kind", ["self", "causal", "cross with padded keys"], ids=lambda k: k.replace(" ", "-"))
def test_attention_weights_reproduce_the_fused_attention_output(kind):
    """y = W_O (α V) with the returned α, against SDPA's y: the maps are the weights the model uses."""
    torch.manual_seed(0)
    d, H, U, T = 8, 2, 5, 7
    attn = Attention(d, H, dropout=0.0, noise=Noise(), causal=kind == "causal").eval()
    x = torch.randn(2, U, d)
    memory = torch.randn(2, T, d) if kind.startswith("cross") else None
    mask = None
    if memory is not None:
        mask = torch.ones(2, 1, 1, T, dtype=torch.bool)
        mask[1, ..., 4:] = False  # the second source has 4 real positions
    fused, none = attn(x, memory, mask)
    explicit, alpha = attn(x, memory, mask, explicit=True)
    assert none is None and alpha.shape == (2, H, U, T if memory is not None else U)
    src = x if memory is None else memory
    v = torch.nn.functional.linear(src, attn.qkv.weight[2 * d :], attn.qkv.bias[2 * d :])
    v = v.view(2, -1, H, d // H).transpose(1, 2)  # (B, H, T, Dh)
    rebuilt = attn.proj((alpha @ v).transpose(1, 2).reshape(2, U, d))
    assert torch.allclose(fused, rebuilt, atol=ATOL) and torch.allclose(explicit, fused, atol=ATOL)
    if kind == "causal":
        assert (alpha.triu(1) == 0).all()
    if mask is not None:
        assert (alpha[1, ..., 4:] == 0).all()


def test_moe_token_by_token_routing_matches_the_batched_dispatch_including_dropped_tokens():
    torch.manual_seed(0)
    ffn = MoEFFN(8, 16, experts=4, top_k=2, capacity_factor=0.5, balance=0.01).eval()
    h = torch.randn(2, 6, 8)
    y = ffn(h)
    y_ref, load_ref = ffn.reference(h)
    assert ffn.last_dropped > 0  # capacity 3 of 24 assignments: the order tokens are granted in matters
    assert torch.allclose(y, y_ref, atol=ATOL) and torch.allclose(ffn.last_load, load_ref, atol=ATOL)


def test_s4d_kernel_is_the_layers_response_to_an_impulse():
    m, task, _ = tiny("ssm")
    L = task.spec.length
    layer = m.layers[0]
    impulse = torch.zeros(1, 8, L)
    impulse[..., 0] = 1.0
    with torch.no_grad():
        response = layer(impulse)[0] - layer.D[:, None] * impulse[0]  # y = K ∗ u + D u
        assert torch.allclose(m.conv_kernel(L)[0], response, atol=ATOL)


# -- nobody inspects a model's type ----------------------------------------------------------------------------------
def _model_classes() -> set[str]:
    found, todo = set(), [SeqModel]
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return found


# receivers whose attributes may be probed: none of them is a model
ALLOWED_PROBES = {
    "task",  # sampling: a text task has encode(); diagnostics.lengths: max_seq_len
    "self.trainer.task",  # sampling: a task that can judge a sample
    "args",  # cli: argparse namespaces
    "info.annotation",  # cli: a pydantic field's type
    "_local",  # ui.boot: thread-local flags
    "func",  # complexity.graph: a torch function's name
    "m",  # ui.controls: pydantic Field metadata (ge/le bounds)
}
# (file, function) where ``except TypeError`` guards something that is not a model
ALLOWED_TYPEERROR = {
    ("seqlab/complexity/graph.py", "_step"),  # torch functions called with traced arguments
    ("seqlab/store/folders.py", "_read_records"),  # a JSON line of the wrong shape
}


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
    }


def type_probes(source: str, path: str) -> list[str]:
    """Where ``source`` looks at a model's type instead of its declared capabilities."""
    models, found = _model_classes(), []
    tree = ast.parse(source)
    functions = {
        id(n): f.name
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
        for n in ast.walk(f)
    }
    for node in ast.walk(tree):
        where = f"{path}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            fn, args = node.func.id, node.args
            if fn in ("isinstance", "issubclass") and len(args) == 2 and _names(args[1]) & models:
                found.append(f"{where}: {fn} against a model class")
            elif fn in ("isinstance", "issubclass", "hasattr", "getattr") and args:
                receiver = ast.unparse(args[0])
                if "model" in receiver.lower():
                    found.append(f"{where}: {fn}({receiver}, …)")
                elif (fn == "hasattr" or (fn == "getattr" and len(args) == 3)) and receiver not in ALLOWED_PROBES:
                    found.append(f"{where}: {fn}({receiver}, …) probes an attribute")
        catches = isinstance(node, ast.ExceptHandler) and node.type is not None and "TypeError" in _names(node.type)
        if catches and (path, functions.get(id(node))) not in ALLOWED_TYPEERROR:
            found.append(f"{where}: except TypeError")
    return found


def test_the_type_probe_check_catches_each_pattern_it_forbids():
    bad = """
def f(trainer, out, model):
    isinstance(trainer.model, LSTM)
    issubclass(cls, (GPT, BERT))
    hasattr(b.ffn, "last_load")
    getattr(model, "causal", True)
    try:
        model(x, return_attention=True)
    except TypeError:
        pass
"""
    assert len(type_probes(bad, "x.py")) == 5
    assert type_probes("isinstance(v, int)\ngetattr(obs, method)(r)\nhasattr(task, 'encode')", "x.py") == []


def test_nothing_in_the_library_or_the_pages_inspects_a_models_type():
    files = sorted([*ROOT.joinpath("seqlab").rglob("*.py"), *ROOT.joinpath("pages").rglob("*.py")])
    assert len(files) > 40
    found = [p for f in files for p in type_probes(f.read_text(), f.relative_to(ROOT).as_posix())]
    assert found == []
