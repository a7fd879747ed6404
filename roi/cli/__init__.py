"""The ``roi`` command line: the top layer, which assembles one sub-app per command group.

``roi.cli:main`` is the console script; ``python -m roi.cli`` runs the same. The assembly is
in :mod:`roi.cli.root`, each command group in a module of its own.
"""

from roi.cli.root import app, main

__all__ = ["app", "main"]
