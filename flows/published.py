"""What is published: the attribution config and definition versions every reader shows.

The report, the Prefect artifact, the close and ``roi explain`` all read the mart through
:func:`published`, never through "the largest version": a manual run of another attribution
config, or a v2 definition built beside v1, changes no published number.
"""

from __future__ import annotations

from dataclasses import dataclass

from attribution.config import load_config
from roi.core.settings import get_settings


@dataclass(frozen=True)
class Published:
    """The published slice of the mart: one attribution version and one version of each definition."""

    attribution_config: str
    attribution_version: str
    attribution_config_hash: str
    spend_definition: str
    signup_definition: str

    # Mart (and closed mart) rows of the published slice; bind with :meth:`params`.
    MART_FILTER = "attribution_version = ? and spend_definition_version = ? and signup_definition_version = ?"

    def params(self) -> list[str]:
        """Parameters for :attr:`MART_FILTER`, in its order."""
        return [self.attribution_version, self.spend_definition, self.signup_definition]


def published() -> Published:
    """The published versions from the settings (``ROI_DEFAULT_ATTRIBUTION_CONFIG`` and the
    ``ROI_PUBLISHED_*_DEFINITION`` pair); an unknown config name is a one-line ConfigError."""
    settings = get_settings()
    config = load_config(settings.default_attribution_config)
    return Published(
        attribution_config=config.name,
        attribution_version=config.attribution_version,
        attribution_config_hash=config.config_hash,
        spend_definition=settings.published_spend_definition,
        signup_definition=settings.published_signup_definition,
    )
