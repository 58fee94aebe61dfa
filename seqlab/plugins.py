"""Your own model in one file: ``seqlab --plugin my_model.py …`` or ``SEQLAB_PLUGINS=a.py:b.py``.

A plugin file defines one or more ``SeqModel`` subclasses (seqlab/models/base.py) with an ``info`` and,
optionally, ``name = "my-model"`` (the registry name; default: the class name in lower case). Loading it
registers each such class in ``MODELS``, so it is listed, trains from the CLI, shows on every page with a
task it can train on (``page_models``) and gets the diagnostics its ``capabilities`` declare.

A file is loaded once per process (Streamlit reruns a page on every click) under a module name made
from its resolved path, so two files called ``model.py`` do not replace each other. A file that cannot
be loaded registers nothing and raises one ``PluginError`` naming it; the result, error included, is
remembered, so a broken file is reported the same way on every rerun without being executed again.

Other processes get the same models from ``shipped()``: each loaded file's path *and the text it was loaded
from*. A pool worker or a local Ray worker loads the file itself; a Ray worker on another machine, where the
path does not exist (or holds another text), loads a copy of the text (``load_shipped``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
import tempfile
from pathlib import Path

from .errors import CapabilityError, SeqlabError
from .models.base import ModelInfo, SeqModel
from .models.registry import MODELS, incompatibility

ENV = "SEQLAB_PLUGINS"
FIELD = "plugin"
BUILTIN = frozenset(MODELS)  # taken before any plugin can add to MODELS


class PluginError(SeqlabError):
    """A plugin file could not be loaded; the message names the file."""

    def __init__(self, path: str | Path, message: str):
        self.path = str(path)
        super().__init__(f"{path}: {message}", FIELD)


_loaded: dict[Path, tuple[str, ...] | PluginError] = {}  # resolved path -> registered names, or why not
_origin: dict[str, Path] = {}  # plugin model name -> the file that registered it
_sources: dict[Path, bytes] = {}  # resolved path -> the text it was loaded from (what other processes get)


def _module_name(path: Path) -> str:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    stem = re.sub(r"\W", "_", path.stem)
    return f"seqlab_plugin_{stem}_{digest}"


def _where(e: BaseException, path: Path) -> str:
    """`` (line N)``: the plugin's own last line on the way to ``e``, so the author knows where to look."""
    if isinstance(e, SyntaxError) and e.lineno:
        return f" (line {e.lineno})"
    tb, line = e.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return f" (line {line})" if line else ""


def _execute(path: Path, shown: str):
    name = _module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look classes up by module name
    try:
        # compiled from the bytes kept for shipping, so another process runs exactly the text this one ran
        data = path.read_bytes()
        exec(compile(data, str(path), "exec", dont_inherit=True), module.__dict__)
        _sources[path] = data
    except CapabilityError as e:
        raise PluginError(shown, str(e).removeprefix("model.capabilities: ")) from None
    except (SyntaxError, ImportError) as e:
        why = e.msg if isinstance(e, SyntaxError) else str(e)
        raise PluginError(shown, f"does not import: {type(e).__name__}: {why}{_where(e, path)}") from None
    except (Exception, SystemExit) as e:  # a plugin's exit() must not end the app
        raise PluginError(shown, f"raised {type(e).__name__} on import: {e}{_where(e, path)}") from None
    return module


def _defined_in(module) -> list[type[SeqModel]]:
    """The SeqModel subclasses the file itself defines (not ones it imports), found from SeqModel's side,
    in the order the file names them."""
    found, todo = [], list(SeqModel.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__ == module.__name__:
            found.append(cls)
    return [v for v in vars(module).values() if any(v is c for c in found)]


def _models_in(module, shown: str) -> dict[str, type[SeqModel]]:
    """The file's models by registry name: its SeqModel subclasses that carry an ``info``."""
    found = {}
    for cls in _defined_in(module):
        info = next((vars(k)["info"] for k in cls.__mro__ if "info" in vars(k)), None)
        if not isinstance(info, ModelInfo):
            continue  # a shared base class of the file's models, not a model itself
        name = cls.name or cls.__name__.lower()
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
            raise PluginError(shown, f"{cls.__name__}.name = {name!r}: use lower-case letters, digits, - and _")
        found[name] = cls
    if not found:
        raise PluginError(
            shown,
            "defines no model: write a subclass of seqlab.models.base.SeqModel with an `info = ModelInfo(...)` "
            "(see examples/indrnn.py)",
        )
    for name, cls in found.items():
        if name in BUILTIN:
            raise PluginError(
                shown, f"{cls.__name__} is named {name!r}, which is a built-in model; give it another `name = ...`"
            )
        other = _origin.get(name)
        if other is not None and other != Path(module.__file__).resolve():
            raise PluginError(shown, f"{cls.__name__} is named {name!r}, which plugin {other} already registered")
    return found


def load(path: str | Path) -> tuple[str, ...]:
    """Register the models defined in the file at ``path``; returns their names. Idempotent per file."""
    shown = str(path)
    resolved = Path(path).expanduser().resolve()
    if resolved in _loaded:
        done = _loaded[resolved]
        if isinstance(done, PluginError):
            raise done
        return done
    try:
        if not resolved.is_file():
            raise PluginError(shown, "no such file" if not resolved.exists() else "not a file")
        if resolved.suffix != ".py":
            raise PluginError(shown, "not a Python file (a plugin is a .py file defining a SeqModel)")
        module = _execute(resolved, shown)
        models = _models_in(module, shown)
    except PluginError as e:
        sys.modules.pop(_module_name(resolved), None)
        _loaded[resolved] = e
        raise
    MODELS.update(models)
    _origin.update(dict.fromkeys(models, resolved))
    _loaded[resolved] = tuple(models)
    return tuple(models)


def env_paths(value: str | None = None) -> list[str]:
    value = os.environ.get(ENV, "") if value is None else value
    return [p for p in value.split(os.pathsep) if p.strip()]


def load_all(paths) -> tuple[list[str], list[PluginError]]:
    """Load every file in ``paths``; a broken one does not stop the others. Returns (names, errors)."""
    names, errors = [], []
    for p in paths:
        try:
            names += load(p)
        except PluginError as e:
            errors.append(e)
    return names, errors


def load_env() -> list[PluginError]:
    """Load the files named in $SEQLAB_PLUGINS (the app's way in); returns the errors, each once per file."""
    return load_all(env_paths())[1]


def shipped() -> list[tuple[str, bytes]]:
    """The plugin files this process loaded, in loading order, each with the text it was loaded from: what a
    sweep's or a search's worker processes load (``load_shipped``), here or on another machine."""
    return [(str(path), _sources[path]) for path, done in _loaded.items() if isinstance(done, tuple)]


def _copy_here(path: Path, data: bytes) -> Path:
    """A file holding ``data`` under this machine's temp dir, named after ``path`` and kept per text (one
    copy per distinct text however many workers ask; written whole, then renamed into place)."""
    where = Path(tempfile.gettempdir()) / "seqlab-plugins" / hashlib.sha1(data).hexdigest()[:12] / path.name
    if not (where.is_file() and where.read_bytes() == data):
        where.parent.mkdir(parents=True, exist_ok=True)
        part = where.parent / f".{where.name}.{os.getpid()}.part"
        part.write_bytes(data)
        os.replace(part, where)
    return where


def load_shipped(items) -> tuple[list[str], list[PluginError]]:
    """Register the models of plugins shipped from another process (``shipped()``): the file itself where
    this machine has it with the same text, else a copy of the text (a cluster node without the file, or a
    file edited since). Returns (names, errors) as ``load_all``."""
    names, errors = [], []
    for path, data in items:
        p = Path(path)
        try:
            if not (p.is_file() and p.read_bytes() == data):
                p = _copy_here(p, data)
            names += load(p)
        except PluginError as e:
            errors.append(e)
        except OSError as e:
            errors.append(PluginError(path, f"not on this machine, and its text could not be written here: {e}"))
    return names, errors


def plugin_models() -> list[str]:
    """Names of the models plugins registered, in loading order."""
    return [n for n in MODELS if n not in BUILTIN]


def page_models(builtin: tuple[str, ...], tasks: tuple[str, ...]) -> tuple[str, ...]:
    """A page's models: its own, then every plugin model that can train on at least one of the page's
    tasks — decided by ``incompatibility``, i.e. by what the model and task declare, never by its type."""
    from .tasks.registry import TASKS

    load_env()  # a page opened first (a deep link) still sees the plugins
    extra = [n for n in plugin_models() if any(incompatibility(MODELS[n], TASKS[t]) is None for t in tasks)]
    return (*builtin, *extra)


def forget(path: str | Path) -> None:
    """Unregister the models of the file at ``path`` (tests use this to leave MODELS as they found it)."""
    resolved = Path(path).expanduser().resolve()
    done = _loaded.pop(resolved, None)
    if isinstance(done, tuple):
        for name in done:
            MODELS.pop(name, None)
            _origin.pop(name, None)
    _sources.pop(resolved, None)
    sys.modules.pop(_module_name(resolved), None)
