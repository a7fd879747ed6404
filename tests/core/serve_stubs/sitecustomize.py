"""Loaded by every Python process of the serve test (PYTHONPATH): stub the heavy tasks.

``roi serve`` and the processes it starts (the Prefect server, one ``python -m prefect.engine``
per flow run) import this at start-up. It imports nothing heavy itself: it only answers the
import of ``flows.tasks`` with ``stub_tasks.py`` (same names, light steps), so the flows, the
serve loop, the audit and the warehouse turns are the real ones. SIGUSR1 dumps every thread's
stack to stderr, for a test that hangs.
"""

from __future__ import annotations

import faulthandler
import importlib.abc
import importlib.machinery
import importlib.util
import signal
import sys
from pathlib import Path
from types import ModuleType

STUB = Path(__file__).with_name("stub_tasks.py")


class _StubTasks(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(
        self, name: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        return importlib.util.spec_from_loader(name, self) if name == "flows.tasks" else None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        module.__file__ = str(STUB)
        exec(compile(STUB.read_text(), str(STUB), "exec"), module.__dict__)


sys.meta_path.insert(0, _StubTasks())
faulthandler.register(signal.SIGUSR1, all_threads=True)
