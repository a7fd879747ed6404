"""StreamRide marketing ROI pipeline: core package (settings, warehouse session, CLI)."""

from roi.telemetry import disable_telemetry

disable_telemetry()

try:
    from importlib.metadata import version as _version

    __version__ = _version("streamride-roi")
except Exception:  # pragma: no cover - running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
