"""The checked-in routing table (tests/router/data/routing_table.md) is what the routers decide today."""

from __future__ import annotations

from pathlib import Path

from tests.router.routing_table import PROMPTS, render_table

TABLE = Path(__file__).parent / "data" / "routing_table.md"


def test_routing_table_matches_the_checked_in_expectation() -> None:
    assert len(PROMPTS) >= 40
    assert render_table() == TABLE.read_text(), (
        "routing changed: review `python -m tests.router.routing_table` and update " + str(TABLE)
    )
