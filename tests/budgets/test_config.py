"""The keys file: validation with errors that name the place and never the key, key lookup, calendar windows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.budgets import KeyTable, hash_key, load_keys_file, parse_keys, window_at
from app.errors import ConfigurationError

SECRET = "sk-very-secret-key-0001"


def test_a_keys_file_is_read_with_plain_and_hashed_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(
        f"""
timezone: Europe/Paris
gateway: {{budgets: [{{window: month, max_usd: 100}}]}}
teams:
  research: {{budgets: [{{window: day, max_usd: 0.1}}]}}
keys:
  - {{name: alice, key: {SECRET}, team: research, budgets: [{{window: hour, max_usd: 1.5}}]}}
  - {{name: ops, key_sha256: {hash_key("sk-ops-key-000")}, admin: true}}
"""
    )
    keys = load_keys_file(path)
    assert keys.teams["research"].budgets[0].max_usd == Decimal("0.1")  # exact, not the float's expansion
    table = KeyTable(keys)
    alice = table.lookup(f"Bearer {SECRET}")
    assert alice is not None and alice.name == "alice" and alice.team == "research" and not alice.admin
    assert table.lookup("Bearer sk-ops-key-000").admin  # type: ignore[union-attr]
    assert table.lookup("Bearer nope") is None and table.lookup(None) is None and table.lookup(SECRET) is None
    assert SECRET not in repr(keys) and SECRET not in repr(alice)


def test_the_environment_key_is_one_more_admin_key() -> None:
    table = KeyTable(parse_keys({"keys": [{"name": "alice", "key": SECRET}]}), api_key="sk-env-admin-key")
    env = table.lookup("Bearer sk-env-admin-key")
    assert env is not None and env.name == "default" and env.admin and env.budgets == ()
    assert KeyTable().open and not KeyTable(api_key="sk-env-admin-key").open


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"keys": [{"name": "a", "key": SECRET, "key_sha256": hash_key(SECRET)}]}, "exactly one of key"),
        ({"keys": [{"name": "a"}]}, "exactly one of key"),
        ({"keys": [{"name": "a b", "key": SECRET}]}, "keys.0.name"),
        ({"keys": [{"name": "a", "key": SECRET}, {"name": "a", "key": SECRET + "x"}]}, "two keys are named 'a'"),
        ({"keys": [{"name": "a", "key": SECRET}, {"name": "b", "key": SECRET}]}, "same key as another"),
        ({"keys": [{"name": "a", "key": SECRET, "team": "ghost"}]}, "team 'ghost', which is not under teams"),
        ({"keys": [{"name": "a", "key_sha256": "abc"}]}, "64 hex digits"),
        ({"keys": [{"name": "a", "key": SECRET, "budgets": [{"window": "week", "max_usd": 1}]}]}, "budgets.0.window"),
        ({"keys": [{"name": "a", "key": SECRET, "budgets": [{"window": "day", "max_usd": -1}]}]}, "max_usd"),
        ({"gateway": {"budgets": [{"window": "day", "max_usd": 1}, {"window": "day", "max_usd": 2}]}}, "one budget"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"keys": [{"name": "a", "key": SECRET, "colour": "red"}]}, "colour"),
        ([1, 2], "must be a mapping"),
    ],
)
def test_invalid_entries_are_named_without_echoing_keys(data: object, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_keys(data)
    assert message in str(caught.value) and SECRET not in str(caught.value)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_keys_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"keys: [{{name: a, key: {SECRET}\n")
    with pytest.raises(ConfigurationError, match="not valid YAML") as caught:
        load_keys_file(bad)
    assert SECRET not in str(caught.value)


def at(text: str, zone: str = "UTC") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def test_calendar_windows_in_utc() -> None:
    now = at("2026-12-31T23:59:59")
    day = window_at("day", now, ZoneInfo("UTC"))
    assert (day.label, day.start, day.end) == ("2026-12-31", at("2026-12-31T00:00:00"), at("2027-01-01T00:00:00"))
    month = window_at("month", now, ZoneInfo("UTC"))
    assert (month.label, month.end) == ("2026-12", at("2027-01-01T00:00:00"))
    hour = window_at("hour", now, ZoneInfo("UTC"))
    assert (hour.label, hour.end) == ("2026-12-31T23+00:00", at("2027-01-01T00:00:00"))
    assert day.resets_at_iso == "2027-01-01T00:00:00Z"


def test_calendar_windows_follow_a_configured_zone_across_daylight_saving() -> None:
    paris = ZoneInfo("Europe/Paris")
    # 2026-10-25: clocks go back at 03:00 to 02:00, the day lasts 25 hours
    day = window_at("day", at("2026-10-25T12:00:00", "Europe/Paris"), paris)
    assert day.end - day.start == 25 * 3600 and day.label == "2026-10-25"
    first = window_at("hour", datetime(2026, 10, 25, 0, 30, tzinfo=UTC).timestamp(), paris)  # 02:30 CEST
    second = window_at("hour", datetime(2026, 10, 25, 1, 30, tzinfo=UTC).timestamp(), paris)  # 02:30 CET
    assert first.label != second.label and first.end == second.start
    month = window_at("month", at("2026-03-15T10:00:00", "Europe/Paris"), paris)
    assert month.end - month.start == 31 * 86400 - 3600  # March loses an hour
