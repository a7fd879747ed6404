"""Benchmarks, each run as ``python -m benchmarks[.<name>]`` (see ``__main__``).

This package is therefore the first of ours every benchmark process imports: the tools'
telemetry goes off here, before a benchmark loads Prefect or Soda (they read their switches
once, at import).
"""

from roi.core.telemetry import disable_telemetry

disable_telemetry()
