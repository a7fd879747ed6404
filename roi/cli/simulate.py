"""``roi simulate``: the simulator's own commands (generate, serve, publish a world).

With ``roi demo``, the one place the simulator is imported next to the pipeline: they meet
in one process only here, and only as the real systems do (HTTP and landing files). An
import-linter contract holds that.
"""

from __future__ import annotations

from simulator.cli import app

__all__ = ["app"]
