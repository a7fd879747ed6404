"""Impact.com (affiliate, brand side): actions by event date, and campaigns."""

from connectors.impact.connector import ImpactConnector, load_impact

__all__ = ["ImpactConnector", "load_impact"]
