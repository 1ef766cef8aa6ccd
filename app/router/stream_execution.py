"""Routed streaming: decide, open the chosen model's stream up to its first chunk, fall back before that chunk.

The decision and the accounting are those of :func:`~app.router.execution.route_and_send` (one
:class:`~app.router.execution.AttemptLedger`): failures before the first chunk are charged by the same rules and
fall back within what is left of ``max_cost``. Once a chunk has been delivered the stream is committed: a failure is
raised to the consumer (no fallback: the client already has part of an answer) and the attempt is charged its worst
case, as is a stream the consumer closes early (the upstream may go on generating). A stream that reaches its end is
charged its actual cost (an unknown one at its worst case).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Collection, Iterable, Mapping, Sequence
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from app.errors import InvalidRequestError, ProviderError
from app.models import MessageInput, Usage
from app.providers.base import Provider
from app.router.decider import Decider
from app.router.decision import RoutingDecision
from app.router.execution import _SKIP, Attempt, AttemptLedger, AttemptPlan, SpendGuard, SpendHold

if TYPE_CHECKING:
    from app.router.strategies import RoutingStrategy

__all__ = ["RoutedStream", "StreamingProvider", "route_and_stream"]


class _ChunkStream(Protocol):
    """What a provider's stream offers (``app.providers.ChatStream``): chunks, then usage and cost at the end."""

    usage: Usage | None
    cost_usd: float | None
    completed: bool

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]: ...


@runtime_checkable
class StreamingProvider(Provider, Protocol):
    """A :class:`~app.providers.base.Provider` that also streams (``LiteLLMProvider`` does)."""

    def stream_chat_completion(
        self,
        messages: Iterable[MessageInput],
        model: str,
        max_tokens: int | None = None,
        temperature: float | None = None,
        *,
        rate_limit_timeout_s: float | None = None,
        retry_unanswered: bool = True,
        **params: Any,
    ) -> _ChunkStream:
        """A stream of chat completion chunks, opened when iteration starts."""


class RoutedStream:
    """A routed chat stream: ``async for chunk in routed`` yields OpenAI ``chat.completion.chunk`` dicts.

    Returned by :meth:`Router.route_stream` once the first chunk is in hand (so the model is known and every
    fallback has happened). ``cost_usd`` (the actual total of every attempt, USD) and ``usage`` are set when
    iteration ends, or when it fails or is closed early (then the last attempt is charged its worst case).
    """

    def __init__(
        self,
        ledger: AttemptLedger,
        plan: AttemptPlan,
        stream: _ChunkStream,
        chunks: AsyncIterator[dict[str, Any]],
        first: dict[str, Any] | None,
        hold: SpendHold | None = None,
    ) -> None:
        self._ledger = ledger
        self._hold = hold
        self._plan = plan
        self._stream = stream
        self._chunks = chunks
        self._first = first
        self._iterator: AsyncGenerator[dict[str, Any], None] | None = None
        self._fallbacks = len(ledger.attempts)
        self._settled = False
        self.cost_usd: float | None = None

    @property
    def decision(self) -> RoutingDecision:
        return self._ledger.decision

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        """The failed attempts before this stream, then this stream's once it has ended."""
        return tuple(self._ledger.attempts)

    @property
    def provider(self) -> str:
        return self._plan.verdict.provider

    @property
    def model(self) -> str:
        """The model that streams (a fallback when the choice failed before its first chunk)."""
        return self._plan.verdict.model

    @property
    def max_tokens(self) -> int | None:
        """The ``max_tokens`` this stream was sent with."""
        return self._plan.max_tokens

    @property
    def worst_case_cost_usd(self) -> Decimal:
        """This stream's worst-case cost as planned (USD; the cap bounds it plus the failed attempts' charges)."""
        return self._plan.worst_case_cost_usd

    @property
    def fallbacks(self) -> int:
        """How many models failed before the one that streams."""
        return self._fallbacks

    @property
    def usage(self) -> Usage | None:
        return self._stream.usage

    @property
    def completed(self) -> bool:
        """Whether the stream reached its end marker."""
        return self._stream.completed

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        if self._iterator is not None:
            raise RuntimeError("a RoutedStream can be iterated only once")
        self._iterator = self._iterate()
        return self._iterator

    async def __aenter__(self) -> RoutedStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the stream and close its HTTP response (idempotent); an unfinished stream is charged its worst
        case."""
        if self._iterator is not None:
            await self._iterator.aclose()
        await _close(self._chunks)
        self._settle(None, complete=False)

    async def _iterate(self) -> AsyncGenerator[dict[str, Any], None]:
        try:
            if self._first is not None:
                first, self._first = self._first, None
                yield first
            async for chunk in self._chunks:
                yield chunk
        except ProviderError as exc:
            self._settle(exc, complete=False)
            raise
        finally:
            await _close(self._chunks)
            self._settle(None, complete=self._stream.completed)

    def _settle(self, error: ProviderError | None, *, complete: bool) -> None:
        """Charge this stream once: its actual cost when complete, else its worst case."""
        if self._settled:
            return
        self._settled = True
        if complete:
            self._ledger.succeeded(self._plan, self._stream.cost_usd)
        elif error is not None:
            self._ledger.failed(self._plan, error, charged=self._plan.worst_case_cost_usd)
        else:  # closed early by the consumer, or cancelled: whatever was generated may be billed
            self._ledger.succeeded(self._plan, self._plan.worst_case_cost_usd)
        self.cost_usd = float(self._ledger.spent)
        if self._hold is not None:
            self._hold.settle_soon(self._ledger.attempts[-1].cost_usd)


async def _close(chunks: AsyncIterator[dict[str, Any]]) -> None:
    closer = getattr(chunks, "aclose", None)
    if closer is not None:
        await closer()


async def route_and_stream(
    router: Decider,
    messages: Sequence[Any],
    providers: Mapping[str, Provider],
    *,
    strategy: str | RoutingStrategy | None,
    max_cost: Any,
    max_tokens: int | None,
    budget_mode: Any,
    exclude: Collection[str],
    params: dict[str, Any],
    spend: SpendGuard | None = None,
    quality_share: float | None = None,
) -> RoutedStream:
    """See :meth:`~app.router.router.Router.route_stream` and the module doc."""
    params.pop("stream", None)
    streaming: Mapping[str, Any] = providers
    if not all(callable(getattr(p, "stream_chat_completion", None)) for p in providers.values()):
        streaming = {name: p for name, p in providers.items() if callable(getattr(p, "stream_chat_completion", None))}
    if not streaming:
        raise InvalidRequestError("none of the providers can stream (no stream_chat_completion)")
    ledger = await AttemptLedger.start(
        router,
        messages,
        streaming,
        strategy=strategy,
        max_cost=max_cost,
        max_tokens=max_tokens,
        budget_mode=budget_mode,
        exclude=exclude,
        params=params,
        quality_share=quality_share,
    )
    for plan in ledger.plans():
        hold = await ledger.reserve(spend, plan)
        if hold is _SKIP:
            continue
        stream = streaming[plan.verdict.provider].stream_chat_completion(
            messages,
            plan.verdict.model,
            max_tokens=plan.max_tokens,
            rate_limit_timeout_s=0,
            retry_unanswered=ledger.retry_unanswered,
            **params,
        )
        chunks = aiter(stream)
        try:
            first: dict[str, Any] | None = await anext(chunks)
        except StopAsyncIteration:  # complete without a chunk to pass on (only a usage frame the caller did not ask)
            first = None
        except ProviderError as exc:
            await _close(chunks)
            falls_back = ledger.failed(plan, exc)
            await ledger.settle(hold)
            if not falls_back:
                raise
            continue
        except BaseException:
            if hold is not None:  # cancelled while sent: it may have been generated, keep the worst case
                hold.settle_soon(plan.worst_case_cost_usd)
            await _close(chunks)
            raise
        return RoutedStream(ledger, plan, stream, chunks, first, hold)
    raise ledger.exhausted()
