"""The event side of the simulated world: user journeys, dirty landing files and their ground truth."""

from simulator.events.config import DirtRates, EventsConfig, Mix, Promo
from simulator.events.generate import generate_events

__all__ = ["DirtRates", "EventsConfig", "Mix", "Promo", "generate_events"]
