"""Importing Great Expectations without what few contracts use.

GX imports scipy.stats and altair when it starts, for the distribution expectations (KL
divergence, KS tests) and their charts: about 1 s of its 2.5 s import, paid by every
validation. Until GX is imported they stand in `sys.modules` as placeholders that import the
real module the first time anything reads from them, so only the expectations that use them pay.
(The standard library's LazyLoader cannot do this: `import altair` reads the module's __spec__,
which makes LazyLoader load it at once.)
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any

DEFERRED = ("scipy.stats", "altair")
_lock = threading.RLock()


class _Deferred(ModuleType):
    """Stands in for module `name` until an attribute is read, then imports it and forwards."""

    def __init__(self, name: str, spec: Any) -> None:
        super().__init__(name)
        self.__spec__ = spec  # read by `import`; it must not trigger the load
        self.__loader__ = spec.loader
        self.__file__ = spec.origin

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._real(), attr)

    def __dir__(self) -> list[str]:
        return dir(self._real())

    def _real(self) -> ModuleType:
        name = self.__name__
        with _lock:
            module = sys.modules.get(name)
            if module is self or module is None:
                sys.modules.pop(name, None)
                try:
                    module = importlib.import_module(name)
                except BaseException:
                    sys.modules.setdefault(name, self)
                    raise
            return module


def load() -> ModuleType:
    """The `great_expectations` module, its rarely used dependencies deferred."""
    with _lock:
        if "great_expectations" not in sys.modules:
            for name in DEFERRED:
                if name not in sys.modules:
                    spec = importlib.util.find_spec(name)
                    if spec is not None:  # not installed: GX says so itself when it needs it
                        sys.modules[name] = _Deferred(name, spec)
            collecting = gc.isenabled()
            gc.disable()  # the import makes 200,000 objects: collecting as they come costs 0.4 s
            try:
                import great_expectations
            finally:
                gc.freeze()
                if collecting:
                    gc.enable()
        import great_expectations

    return great_expectations
