"""StreamRide marketing ROI pipeline: the application core (``roi.core``) and the CLI (``roi.cli``)."""
