"""Retry policy of provider calls, built from tenacity strategies.

Retried: errors marked ``retryable`` (connection failures, timeouts, 5xx, 429). Not retried: other 4xx, malformed
answers, and a stream after its first chunk. Waits grow exponentially with jitter; a 429 that says how long to
wait (``retry_after_s``) is retried after that wait only when it is at most ``max_retry_after_s``, otherwise it is
raised at once so the caller (for example the router) can fall back to another model instead of stalling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter
from tenacity.wait import wait_base

from app.errors import ProviderError, RateLimitError

__all__ = ["RetryPolicy"]

Sleep = Callable[[float], Awaitable[None]]


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.retryable


def _may_have_generated(exc: BaseException) -> bool:
    """Sent, but no answer came back: the upstream may have done (and billed) the work."""
    return isinstance(exc, ProviderError) and exc.request_sent and exc.status_code is None


class _WaitRetryAfterOrBackoff(wait_base):
    """Wait what a 429 asked for; otherwise the exponential backoff."""

    def __init__(self, backoff: wait_base) -> None:
        self._backoff = backoff

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, RateLimitError) and exc.retry_after_s is not None:
            return exc.retry_after_s
        return self._backoff(retry_state)


@dataclass(frozen=True)
class RetryPolicy:
    """How a provider retries.

    Attributes:
        max_retries: retries after the first attempt (0 = one attempt only).
        initial_backoff_s: first backoff wait; doubles per retry, plus up to ``jitter_s`` random seconds.
        max_backoff_s: upper bound of one backoff wait.
        max_retry_after_s: the longest ``Retry-After`` honoured by waiting; longer ones are raised at once.
        sleep: the coroutine used to wait (tests inject one that records instead of sleeping).
    """

    max_retries: int = 2
    initial_backoff_s: float = 0.25
    max_backoff_s: float = 4.0
    jitter_s: float = 0.25
    max_retry_after_s: float = 10.0
    sleep: Sleep = field(default=asyncio.sleep, repr=False)

    def _should_retry(self, exc: BaseException, *, retry_unanswered: bool = True) -> bool:
        if isinstance(exc, RateLimitError) and exc.retry_after_s is not None:
            return exc.retry_after_s <= self.max_retry_after_s
        if not retry_unanswered and _may_have_generated(exc):
            return False
        return _is_retryable(exc)

    def retrying(
        self, *, retry_unanswered: bool = True, before_sleep: Callable[[RetryCallState], None] | None = None
    ) -> AsyncRetrying:
        """A fresh tenacity controller for one call; the last error is re-raised as is.

        ``retry_unanswered=False`` does not retry a request that was sent but got no answer (read timeout, lost
        connection): the upstream may have generated, and billed, that attempt. Routers under a cost cap ask for
        this and account for such an attempt at its worst case before trying anything else. ``before_sleep`` is
        called before each wait (to report the retry).
        """
        backoff = wait_exponential_jitter(
            multiplier=self.initial_backoff_s, max=self.max_backoff_s, jitter=self.jitter_s
        )
        return AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=_WaitRetryAfterOrBackoff(backoff),
            retry=retry_if_exception(lambda exc: self._should_retry(exc, retry_unanswered=retry_unanswered)),
            sleep=self.sleep,
            reraise=True,
            before_sleep=before_sleep,
        )
