"""The reference solutions, loaded into the trusted process under private module names.

The solution files import each other by plain name (``from layers import affine``), as student
files do. They are imported here with those plain names bound only while loading (a meta-path
finder serves them from the solutions folder, or from given sources for the known-bug variants
of ``grader.grading.feedback``), then the plain names are unbound so nothing else imports them by
accident.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from grader.authoring import pack


class Reference:
    """Attribute access to every reference function and class: ``reference.f``."""

    def __init__(self, modules: Mapping[str, types.ModuleType]) -> None:
        self.modules = dict(modules)

    def __getattr__(self, name: str) -> Any:
        try:
            mod = self.modules[pack.active().owner(name)]
        except KeyError as exc:
            raise AttributeError(str(exc)) from None
        return getattr(mod, name)

    def functions(self) -> dict[str, Callable[..., Any]]:
        """Every assignment function (not the torch classes), by name."""
        return {
            name: getattr(self.modules[mod], name)
            for name, mod in pack.active().module_of.items()
            if name not in pack.active().classes and mod in self.modules
        }


class _SourceLoader(importlib.abc.Loader):
    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text

    def exec_module(self, module: types.ModuleType) -> None:
        exec(compile(self.text, self.path, "exec"), module.__dict__)


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, folder: Path, sources: Mapping[str, str]) -> None:
        self.folder = folder
        self.sources = sources

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in pack.active().by_module:
            return None
        file = self.folder / f"{fullname}.py"
        text = self.sources.get(f"{fullname}.py")
        if text is None:
            text = file.read_text(encoding="utf-8")
        return importlib.util.spec_from_loader(fullname, _SourceLoader(str(file), text))


def load_modules(
    folder: Path, sources: Mapping[str, str] | None = None, only: Sequence[str] | None = None
) -> dict[str, types.ModuleType]:
    """Import the trusted files of ``folder`` (overridden by ``sources``) without leaving names."""
    saved = {name: sys.modules.pop(name, None) for name in pack.active().by_module}
    finder = _Finder(folder, sources or {})
    sys.meta_path.insert(0, finder)
    try:
        return {name: importlib.import_module(name) for name in (only or pack.active().by_module)}
    finally:
        sys.meta_path.remove(finder)
        for name, mod in saved.items():
            sys.modules.pop(name, None)
            if mod is not None:
                sys.modules[name] = mod


def reference(folder: Path | None = None) -> Reference:
    """The reference (default: the active pack's solutions), loaded once per process."""
    return _reference(pack.active().solutions if folder is None else folder)


@cache
def _reference(folder: Path) -> Reference:
    return Reference(load_modules(folder))
