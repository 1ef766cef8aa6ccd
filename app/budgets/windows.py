"""Calendar windows of spend budgets: the hour, day or month that contains a moment, in a time zone (UTC unless the
keys file names another). A window is named by its local start (``2026-11-22``, ``2026-11``, ``2026-11-22T13+00:00``:
the UTC offset keeps the repeated hour of a daylight-saving change apart) and ends at the next one's start."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.budgets.config import Window

__all__ = ["CalendarWindow", "window_at"]


@dataclass(frozen=True, slots=True)
class CalendarWindow:
    """One calendar window: its kind, its name, and its bounds in seconds since the epoch."""

    kind: Window
    label: str
    start: float
    end: float

    @property
    def resets_at_iso(self) -> str:
        """When it ends, ISO 8601 in UTC (``2026-11-23T00:00:00Z``)."""
        return datetime.fromtimestamp(self.end, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window_at(kind: Window, now: float, zone: ZoneInfo) -> CalendarWindow:
    """The ``kind`` window of ``zone``'s calendar that contains ``now`` (seconds since the epoch)."""
    local = datetime.fromtimestamp(now, zone)
    if kind == "hour":
        utc_start = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        start_local = utc_start.astimezone(zone)
        return CalendarWindow(
            kind,
            start_local.isoformat(timespec="hours"),
            utc_start.timestamp(),
            (utc_start + timedelta(hours=1)).timestamp(),
        )
    if kind == "day":
        day = local.date()
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        nxt = day + timedelta(days=1)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)
        return CalendarWindow(kind, day.isoformat(), start.timestamp(), end.timestamp())
    start = datetime(local.year, local.month, 1, tzinfo=zone)
    end = datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=zone)
    return CalendarWindow(kind, f"{local.year:04d}-{local.month:02d}", start.timestamp(), end.timestamp())
