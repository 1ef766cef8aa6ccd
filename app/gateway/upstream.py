"""The gateway's HTTP client to the LiteLLM proxy: an ``httpx.AsyncClient`` whose transport is aiohttp's connection
pool when aiohttp is installed (the ``server`` extra), else httpx's own.

Why: on the gateway's hot path the client side of each proxied request costs about 1-2.5 ms of CPU with httpx's
pool (it probes every idle connection on each request) and about 0.5 ms with aiohttp's (``bench/bench_gateway.py``).
The provider keeps talking httpx (requests, responses, streams and exceptions), so its error mapping and
accounting are unchanged: aiohttp's exceptions are mapped to the httpx exceptions that mean the same thing for
whether the request was sent (a connect failure or connect timeout: not sent; anything later: sent, maybe
generated).
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from http.cookiejar import CookieJar
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpTransport", "aiohttp_available", "upstream_client"]


def aiohttp_available() -> bool:
    return importlib.util.find_spec("aiohttp") is not None


def upstream_client(
    *, timeout_s: float, max_connections: int = 100, use_aiohttp: bool | None = None
) -> httpx.AsyncClient:
    """The client the gateway's provider uses (closed by the gateway): ``timeout_s`` per attempt, a 10 s connect
    timeout at most (the provider's own defaults), ``max_connections`` kept alive. Nothing is opened until the
    first request."""
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    if use_aiohttp is None:
        use_aiohttp = aiohttp_available()
    jar = _NoCookies()  # one client serves every user: an upstream cookie must never be replayed (and parsing the
    # proxy's ~30 headers for cookies costs ~0.1 ms a request)
    if use_aiohttp:
        transport = AiohttpTransport(max_connections)
        return httpx.AsyncClient(transport=transport, timeout=timeout, trust_env=False, cookies=jar)
    return httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False, cookies=jar)


class _NoCookies(CookieJar):
    """A cookie jar that never stores a cookie."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


@contextmanager
def _mapped() -> Iterator[None]:
    """Raise aiohttp's failures as the httpx exceptions of the same meaning for costmux: only a failure to connect
    means the request was not sent."""
    import aiohttp

    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:  # no connection within the connect/pool timeout: nothing sent
        raise httpx.ConnectTimeout(str(exc) or "connect timeout") from exc
    except aiohttp.ClientConnectorError as exc:  # refused, unreachable, DNS: nothing sent
        raise httpx.ConnectError(str(exc)) from exc
    except TimeoutError as exc:  # aiohttp's read timeouts are TimeoutErrors
        raise httpx.ReadTimeout(str(exc) or "read timeout") from exc
    except aiohttp.ClientPayloadError as exc:
        raise httpx.RemoteProtocolError(str(exc)) from exc
    except aiohttp.ServerDisconnectedError as exc:
        raise httpx.RemoteProtocolError(str(exc) or "server disconnected") from exc
    except (aiohttp.ClientConnectionError, OSError) as exc:  # reset or closed after the request was written
        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
    except aiohttp.InvalidURL as exc:
        raise httpx.InvalidURL(str(exc)) from exc


class _ResponseStream(httpx.AsyncByteStream):
    """The body of an aiohttp response, chunk by chunk as it arrives."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped():
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()  # the connection goes back to the pool
        else:
            self._response.close()  # an unfinished body: drop the connection


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport on one ``aiohttp.ClientSession`` (created on first use, on the running loop).

    Timeouts come from each request (httpx's ``timeout`` extension): ``connect`` bounds opening a connection,
    ``pool`` waiting for one, ``read`` each wait for data.
    """

    def __init__(self, max_connections: int = 100) -> None:
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            import aiohttp

            connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=self._max_connections)
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import aiohttp

        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        connect, pool, read = timeouts.get("connect"), timeouts.get("pool"), timeouts.get("read")
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None if pool is None and connect is None else (pool or 0) + (connect or 0),
            sock_connect=connect,
            sock_read=read,
        )
        body = request.content if request.method != "GET" else None
        with _mapped():
            response = await self._client().request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                compress=False,
                timeout=timeout,
            )
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_ResponseStream(response),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
