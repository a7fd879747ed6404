"""The connector contract suite applied to every registered connector."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

import connectors  # noqa: F401  (registers every connector)
from connector_sdk.registry import connector_names
from connector_sdk.testing import ContractRun, LiveContract, SimulatorHandle, StructureContract

NAMES = connector_names()


@pytest.mark.parametrize("connector_name", NAMES, scope="class")
class TestStructure(StructureContract):
    """Declarations of every connector."""


@pytest.mark.parametrize("connector_name", NAMES, scope="class")
class TestLive(LiveContract):
    """Every connector against its simulator."""

    # Apple pages ad groups (each with several days) and Impact has few actions at this scale,
    # so both need a smaller page to span >= 3 pages
    contract_page_sizes: ClassVar[dict[str, int]] = {"apple_search_ads": 3, "impact": 10}
    # FX asks one request per rate date: a longer window gives the fault run enough requests
    contract_lookbacks: ClassVar[dict[str, int]] = {"fx_rates": 8}

    @pytest.fixture(scope="class")
    def contract_run(
        self, sim: SimulatorHandle, connector_name: str, tmp_path_factory: pytest.TempPathFactory
    ) -> ContractRun:
        base: Path = tmp_path_factory.mktemp(f"contract_{connector_name}")
        return self.scenario(sim, connector_name, base)
