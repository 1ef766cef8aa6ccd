"""``ProxyTransport``: HTTP to the LiteLLM proxy with error mapping and retries, and nothing else.

One ``httpx.AsyncClient`` (created on first use, or the caller's) serves every call. Every httpx exception and
error answer goes through :mod:`app.providers.error_mapping`; the API key is redacted from every message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr
from tenacity import RetryCallState

from app.errors import ConfigurationError, CostmuxError, InvalidResponseError
from app.events import EventBus, RetryScheduled, error_kind
from app.providers.error_mapping import error_from_body, error_from_response, error_from_transport
from app.providers.retry import RetryPolicy
from app.providers.streaming import DONE, OpenedStream, parse_frame, sse_data

__all__ = ["ProxyTransport", "json_body", "normalize_base_url"]

T = TypeVar("T")


def normalize_base_url(url: str) -> str:
    """``http://host:4000/v1/`` → ``http://host:4000``: paths are added per endpoint."""
    url = url.strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"base URL must start with http:// or https://, got {url!r}")
    return url


def json_body(response: httpx.Response, provider: str) -> Any:
    """The response's JSON. Raises InvalidResponseError when it is not JSON."""
    try:
        return response.json()
    except ValueError as exc:
        raise InvalidResponseError(
            f"{provider} answered {response.status_code} with a body that is not JSON", provider=provider
        ) from exc


class ProxyTransport:
    """Sends requests to one proxy.

    Args:
        base_url: normalized proxy URL (no ``/v1``).
        api_key: sent as a bearer token, never shown.
        provider: the provider's name in errors.
        timeout_s: time allowed for one attempt, seconds.
        max_connections: size of the shared pool.
        retry_policy: which failures are retried and how long to wait.
        client: an ``httpx.AsyncClient`` to use (not closed by :meth:`aclose`).
        events: where retries are reported (:class:`~app.events.RetryScheduled`).
    """

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr | None,
        *,
        provider: str,
        timeout_s: float,
        max_connections: int,
        retry_policy: RetryPolicy,
        client: httpx.AsyncClient | None = None,
        events: EventBus | None = None,
    ) -> None:
        self.base_url = base_url
        self.events = events if events is not None else EventBus()
        self.provider = provider
        self.timeout_s = timeout_s
        self.retry_policy = retry_policy
        self._api_key = api_key
        self._max_connections = max_connections
        self._client = client
        self._owns_client = client is None

    def client(self) -> httpx.AsyncClient:
        """The shared client, created on first use."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, 10.0)),
                limits=httpx.Limits(
                    max_connections=self._max_connections, max_keepalive_connections=self._max_connections
                ),
            )
        return self._client

    async def aclose(self) -> None:
        """Close the pool if this transport created it."""
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    @property
    def secrets(self) -> tuple[str | None, ...]:
        return (self._api_key.get_secret_value() if self._api_key else None,)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key.get_secret_value()}"} if self._api_key else {}

    def transport_error(self, exc: httpx.HTTPError, model: str | None, *, mid_stream: bool = False) -> CostmuxError:
        return error_from_transport(
            exc,
            base_url=self.base_url,
            provider=self.provider,
            model=model,
            mid_stream=mid_stream,
            secrets=self.secrets,
        )

    async def send_once(
        self, method: str, path: str, *, model: str | None = None, json: Any = None, timeout_s: float | None = None
    ) -> httpx.Response:
        """One attempt; returns a 2xx response (body read) or raises the mapped error."""
        extra: dict[str, Any] = {} if timeout_s is None else {"timeout": timeout_s}
        try:
            response = await self.client().request(
                method, self.base_url + path, json=json, headers=self.headers(), **extra
            )
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, model) from exc
        if response.status_code >= 400:
            raise error_from_response(response, provider=self.provider, model=model, secrets=self.secrets)
        return response

    async def with_retries(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        retry: bool = True,
        retry_unanswered: bool = True,
        model: str | None = None,
    ) -> T:
        """Run ``attempt`` under the retry policy (once when ``retry`` is false; see ``RetryPolicy.retrying`` for
        ``retry_unanswered``); each retry is reported as a :class:`~app.events.RetryScheduled` for ``model``."""
        if not retry:
            return await attempt()
        try:  # the first attempt runs outside tenacity: most calls succeed at once, and its set-up costs ~30 µs
            return await attempt()
        except Exception as exc:
            first_error: list[Exception] = [exc]

        async def replay() -> T:
            """tenacity's first attempt re-raises the first error, so its decisions, waits and reports are those of
            a call that ran every attempt under tenacity."""
            if first_error:
                raise first_error.pop()
            return await attempt()

        def report(state: RetryCallState) -> None:
            if self.events.active and state.outcome is not None and (exc := state.outcome.exception()) is not None:
                wait_s = state.next_action.sleep if state.next_action is not None else 0.0
                self.events.emit(RetryScheduled(self.provider, model, error_kind(exc), wait_s))

        async for try_ in self.retry_policy.retrying(retry_unanswered=retry_unanswered, before_sleep=report):
            with try_:
                return await replay()
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def get_json(self, path: str, *, retry: bool = True) -> Any:
        response = await self.with_retries(lambda: self.send_once("GET", path), retry=retry)
        return json_body(response, self.provider)

    async def post(self, path: str, body: Any, *, model: str | None, retry_unanswered: bool = True) -> httpx.Response:
        """POST with retries; returns the 2xx response."""
        return await self.with_retries(
            lambda: self.send_once("POST", path, model=model, json=body), retry_unanswered=retry_unanswered, model=model
        )

    async def open_stream(self, body: dict[str, Any], model: str) -> OpenedStream:
        """One attempt at opening a chat stream, up to and including its first frame (so errors sent before the
        first chunk are raised here, where they can still be retried)."""
        client = self.client()
        request = client.build_request(
            "POST", self.base_url + "/v1/chat/completions", json=body, headers=self.headers()
        )
        try:
            response = await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, model) from exc
        try:
            if response.status_code >= 400:
                try:
                    await response.aread()
                except httpx.HTTPError as exc:
                    raise self.transport_error(exc, model) from exc
                raise error_from_response(response, provider=self.provider, model=model, secrets=self.secrets)
            events = sse_data(response.aiter_lines())
            first = await self.next_frame(events, model, mid_stream=False)
            if first is None or first == DONE:
                raise InvalidResponseError(
                    f"stream from {self.provider} ended before its first chunk", provider=self.provider, model=model
                )
            assert isinstance(first, dict)
            return OpenedStream(response, events, first)
        except BaseException:
            await response.aclose()
            raise

    async def next_frame(
        self, events: AsyncIterator[str], model: str, *, mid_stream: bool
    ) -> dict[str, Any] | str | None:
        """The next parsed frame, ``DONE``, or ``None`` at the end of the body; error frames are raised."""
        try:
            payload = await anext(events, None)
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, model, mid_stream=mid_stream) from exc
        if payload is None or payload == DONE:
            return payload
        frame = parse_frame(payload)
        if "error" in frame:
            error = frame["error"]
            code = error.get("code") if isinstance(error, Mapping) else None
            status = int(code) if isinstance(code, int | str) and str(code).isdigit() else 500
            mapped = error_from_body(status, frame, provider=self.provider, model=model, secrets=self.secrets)
            if mid_stream:
                mapped.retryable = False
            raise mapped
        return frame
