"""The ad side of the simulated world: delivery, restatements, metadata changes, Impact actions, FX.

:func:`generate_ads` writes ``DIR/state/ads/`` (what :mod:`simulator.server` serves),
``DIR/truth/spend_final.parquet`` and the ad credentials block of ``DIR/sim.env``.
"""

from simulator.ads.generate import entity_changes, generate_ads

__all__ = ["entity_changes", "generate_ads"]
