"""StreamRide marketing ROI pipeline: the application core (``roi.core``) and the CLI (``roi.cli``).

The core is imported here, so it is loaded first whichever ``roi`` module a process starts
from (the ``roi`` command, ``python -m roi.cli``): importing it turns the tools' telemetry off
before any of them is loaded (Prefect and Soda read their switches once, at import).
"""

from roi.core import __version__

__all__ = ["__version__"]
