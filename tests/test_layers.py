"""Layers point one way: the library never reaches up into the UI, pages hold no torch, and the
complexity sweeps and the benches both import the bare step from below instead of from each other."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# entry points may reach the UI: the CLI's `bench --live` times the pages' own redraw (seqlab.ui.bench), and
# `export --chart` draws a stored run with the pages' own chart builders (seqlab.ui.charts, no streamlit)
ENTRY_POINTS = {ROOT / "seqlab" / "cli" / "bench.py", ROOT / "seqlab" / "cli" / "export.py"}


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in the file (lazy imports inside functions included),
    with relative imports resolved against the file's package."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found |= {base} | {f"{base}.{a.name}" for a in node.names}
    return found


def test_no_library_module_imports_the_ui():
    offenders = {
        str(p.relative_to(ROOT)): sorted(
            m for m in imported_modules(p) if m == "seqlab.ui" or m.startswith("seqlab.ui.")
        )
        for p in (ROOT / "seqlab").rglob("*.py")
        if "ui" not in p.relative_to(ROOT / "seqlab").parts[:1] and p not in ENTRY_POINTS
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_pages_import_no_torch():
    offenders = {
        p.name: sorted(m for m in imported_modules(p) if m.split(".")[0] == "torch")
        for p in (ROOT / "pages").glob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_complexity_and_bench_do_not_import_each_other():
    complexity = [m for p in (ROOT / "seqlab" / "complexity").glob("*.py") for m in imported_modules(p)]
    assert not [m for m in complexity if m == "seqlab.bench" or m.startswith("seqlab.bench.")]


def test_the_resolver_sees_relative_and_lazy_imports():
    """The scan above would pass vacuously if it missed the import forms the code uses."""
    assert "seqlab.train.bare.bare_step" in imported_modules(ROOT / "seqlab" / "complexity" / "sweep.py")
    assert "seqlab.ui.charts.panel_figures" in imported_modules(ROOT / "seqlab" / "ui" / "bench.py")
    assert "seqlab.ui.bench.bench_live" in imported_modules(ROOT / "seqlab" / "cli" / "bench.py")  # inside a function


def test_importing_models_and_training_does_not_import_streamlit():
    code = (
        "import sys, seqlab.models, seqlab.train\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'streamlit' or m.startswith('seqlab.ui')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
