"""Budget leases: one replica's reservations on a set of budget windows, taken from the store a slice at a time.

A *lease* is an ordinary hold in the budget store (:mod:`app.budgets.store`) whose amount covers the worst cases of
several requests of one replica on the same budget windows: the replica reserves it in one store call and then
reserves each request's worst case from it in memory, with no store call. Each request settles in memory (its actual
cost is added to what the lease used); the lease itself is settled in the store, once, at what its requests cost in
total, when it retires. So a lease is exact like a request's own hold: the store never has more reserved than the
windows allow (0 overshoot), an actual cost never exceeds its request's worst case, and a lease whose replica dies
expires like any hold (it is charged in full, at most ``lease_requests`` worst cases of that replica's requests).

The sizing keeps "no needless refusal" true (a refusal with nothing in flight leaves less than the request's worst
case):

* a replica with nothing else in flight on those windows reserves exactly the request's worst case (a lease of one);
  only requests arriving while others run share a larger lease, sized to the replica's concurrency (twice the
  requests in flight, at most ``lease_requests`` worst cases) and to at most ``lease_share`` of what the windows had
  left at the last store answer: near a limit the slices shrink to one request's worst case, exact reservations;
* a lease retires (is settled in the store, giving back what it did not use) as soon as none of its requests runs
  and it cannot take another request, or is not the newest, or the replica has nothing in flight on those windows:
  an idle replica holds no lease, so what others are refused is all that is left;
* a lease the store refuses is asked again at exactly the request's worst case before the request is refused.

This module is the in-memory bookkeeping (:class:`LeasePool`, one per set of windows); the store calls are the
ledger's (:mod:`app.budgets.ledger`). Amounts are atto-USD ints.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from app.budgets.store import LineSpec, LineState

__all__ = ["Lease", "LeasePool"]


class Lease:
    """One hold in the store shared by several requests of this replica."""

    __slots__ = ("amount_atto", "held_atto", "hold_id", "running", "used_atto")

    def __init__(self, hold_id: str, amount_atto: int) -> None:
        self.hold_id = hold_id
        self.amount_atto = amount_atto  # reserved in the store
        self.held_atto = 0  # worst cases of its requests still running
        self.used_atto = 0  # actual costs of its requests that ended
        self.running = 0  # its requests still running

    @property
    def free_atto(self) -> int:
        """What it can still give to a request."""
        return self.amount_atto - self.held_atto - self.used_atto


class LeasePool:
    """The leases of one set of budget windows in this replica, and its requests running on them.

    Args:
        lease_requests: the most worst cases one lease may hold (1: every request reserves exactly its own).
        lease_share: the most of what the windows had left that one lease may take (0 to 1).
    """

    __slots__ = ("lease_requests", "lease_share", "leases", "pending", "running", "waiting")

    def __init__(self, lease_requests: int, lease_share: float) -> None:
        self.lease_requests = lease_requests
        self.lease_share = lease_share
        self.leases: list[Lease] = []
        self.running = 0  # requests running on these windows (on any lease)
        self.waiting = 0  # requests waiting for a lease being reserved
        self.pending: asyncio.Future[None] | None = None  # a lease being reserved in the store now

    @property
    def free_atto(self) -> int:
        """What the leases can still give (reserved in the store, not yet given to a request)."""
        return sum(lease.free_atto for lease in self.leases)

    def take(self, amount_atto: int) -> Lease | None:
        """A lease that can give ``amount_atto`` now (the oldest first, so older ones fill and retire), taken; or
        ``None``: a lease must be reserved in the store."""
        for lease in self.leases:
            if lease.free_atto >= amount_atto:
                self._give(lease, amount_atto)
                return lease
        return None

    def _give(self, lease: Lease, amount_atto: int) -> None:
        lease.held_atto += amount_atto
        lease.running += 1
        self.running += 1

    def size(self, amount_atto: int, specs: Sequence[LineSpec], known: Sequence[LineState] | None) -> int:
        """How much a new lease for a request of ``amount_atto`` should reserve: exactly that when nothing else
        runs or waits here (or leases are off, or the windows' state is unknown), else room for twice the requests
        running and waiting (at most ``lease_requests`` of this size), within ``lease_share`` of what the windows
        had left."""
        busy = self.running + self.waiting
        if self.lease_requests <= 1 or busy == 0 or known is None or amount_atto <= 0:
            return amount_atto
        wanted = amount_atto * min(self.lease_requests, 2 * (busy + 1))
        left = min(state.left_atto(spec) for spec, state in zip(specs, known, strict=True))
        return max(amount_atto, min(wanted, int(left * self.lease_share)))

    def add(self, hold_id: str, lease_amount_atto: int, amount_atto: int) -> Lease:
        """A lease the store reserved, with the request that asked for it (``amount_atto``) taken from it."""
        lease = Lease(hold_id, lease_amount_atto)
        self.leases.append(lease)
        self._give(lease, amount_atto)
        return lease

    def end(self, lease: Lease, amount_atto: int, actual_atto: int) -> list[Lease]:
        """A request of ``lease`` that held ``amount_atto`` ended at ``actual_atto``; returns the leases that retire
        now (to settle in the store at their ``used_atto``), removed from the pool."""
        lease.held_atto -= amount_atto
        lease.used_atto += actual_atto
        lease.running -= 1
        self.running -= 1
        return self.retiring(amount_atto)

    def retiring(self, amount_atto: int = 0) -> list[Lease]:
        """Remove and return the leases with no request running that cannot take a request of ``amount_atto``, are
        not the newest, or whose windows have nothing running or waiting here."""
        done = []
        newest = self.leases[-1] if self.leases else None
        idle = self.running == 0 and self.waiting == 0
        for lease in self.leases:
            if lease.running == 0 and (idle or lease is not newest or lease.free_atto < max(1, amount_atto)):
                done.append(lease)
        if done:
            self.leases = [lease for lease in self.leases if lease not in done]
        return done

    @property
    def idle(self) -> bool:
        """Nothing runs, no lease is held, none is being reserved: the pool can be forgotten."""
        return self.running == 0 and self.waiting == 0 and not self.leases and self.pending is None
