"""The one error hierarchy of costmux.

Every error costmux raises derives from :class:`CostmuxError`. Errors that come from talking to a provider
(the LiteLLM proxy) derive from :class:`ProviderError` and say whether retrying the same request may succeed.

    CostmuxError
    ├── ConfigurationError          bad settings (no base URL, invalid custom model or price, ...)
    │   ├── DataFileError           a bad row or line in a data file (path and line number attached)
    │   └── QualityModelError       a learned quality model file that cannot be used (missing, other version)
    ├── InvalidRequestError         a request argument is invalid (malformed messages, ...), caught before sending
    │   └── RequestTooLargeError    a request body over the gateway's size limit
    ├── PricingError                no price is known for a model whose cost is needed
    ├── SpendLimitExceededError     a key's, team's or the gateway's spend budget can't take the request (402)
    ├── StoreUnavailableError       the shared store (Redis) did not answer; spend budgets fail closed (503)
    ├── RoutingError                no model can take the request
    │   ├── BudgetExceededError     every model that could serve it costs more than max_cost (worst case)
    │   └── NoModelAvailableError   no model fits (context, capability, price, health, rate limit)
    └── ProviderError               status_code, provider, model, retryable, code
        ├── AuthenticationError     401/403, or the proxy's 400 ``no_db_connection`` (wrong key)
        ├── BadRequestError         other 4xx the caller must fix
        ├── ModelNotFoundError      404, or the proxy's 400 "Invalid model name"
        ├── RateLimitError          429; ``retry_after_s`` from the proxy's headers
        ├── ProviderUnavailableError  connection refused/reset, 5xx from the proxy or upstream
        ├── ProviderTimeoutError    connect/read/write/pool timeout
        └── InvalidResponseError    malformed body or stream
            └── StreamInterruptedError  a stream ended before ``[DONE]`` after chunks were delivered

Messages never contain API keys: :func:`redact` is applied by the code that builds them.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ConfigurationError",
    "CostmuxError",
    "DataFileError",
    "InvalidRequestError",
    "InvalidResponseError",
    "ModelNotFoundError",
    "NoModelAvailableError",
    "PricingError",
    "ProviderError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "QualityModelError",
    "RateLimitError",
    "RequestTooLargeError",
    "RoutingError",
    "SpendLimitExceededError",
    "StoreUnavailableError",
    "StreamInterruptedError",
    "redact",
]


class CostmuxError(Exception):
    """Base class of every error raised by costmux."""


class ConfigurationError(CostmuxError, ValueError):
    """Settings or arguments are invalid or missing (for example no proxy base URL)."""


class DataFileError(ConfigurationError):
    """A data file (labelled outcomes, prices, a public data set being converted) has a bad row.

    Attributes:
        path: the file, as given.
        line: the 1-based line (or CSV row) number, ``None`` for the file as a whole.
    """

    def __init__(self, message: str, *, path: str, line: int | None = None) -> None:
        where = path if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


class QualityModelError(ConfigurationError):
    """A learned quality model file cannot be used: missing, not a costmux quality model, of an unsupported
    version, or malformed (train it again with ``costmux train``)."""


class InvalidRequestError(CostmuxError, ValueError):
    """A request argument is invalid (malformed messages, bad max_tokens, ...); nothing was sent.

    Attributes:
        param: the invalid field when one is named (``"max_cost"``, ``"X-Max-Cost"`` for a header, ...), else
            ``None``; the gateway returns it as the OpenAI error's ``param``.
        code: a machine-readable kind (``"invalid_json"``, ...), else ``None``; the gateway's error ``code``.
    """

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


class RequestTooLargeError(InvalidRequestError):
    """A request body is larger than the gateway accepts (``limit_bytes``, the ``max_body_bytes`` setting)."""

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(
            f"the request body is larger than the gateway's limit of {limit_bytes} bytes",
            param="body",
            code="request_too_large",
        )
        self.limit_bytes = limit_bytes


class PricingError(CostmuxError, LookupError):
    """A cost was needed for a model with no known price (an unknown price is never taken as $0)."""

    def __init__(self, message: str, *, model: str | None = None) -> None:
        super().__init__(message)
        self.model = model


class SpendLimitExceededError(CostmuxError):
    """A spend budget (of a gateway key, a team, or the whole gateway) cannot take the request's worst case in its
    current calendar window; nothing was sent.

    Attributes:
        scope: the budget's owner, from configuration: ``key:<name>``, ``team:<name>`` or ``gateway``.
        window: ``hour``, ``day`` or ``month``.
        max_usd: the budget of the window, USD.
        remaining_usd: what is left of it now (spent and reserved deducted), USD.
        needed_usd: the worst case the request needed, USD (``None``: not known, the budget is used up).
        resets_at: when the window ends, seconds since the epoch (UTC).
    """

    def __init__(
        self,
        message: str,
        *,
        scope: str,
        window: str,
        max_usd: Decimal,
        remaining_usd: Decimal,
        needed_usd: Decimal | None,
        resets_at: float,
    ) -> None:
        super().__init__(message)
        self.scope = scope
        self.window = window
        self.max_usd = max_usd
        self.remaining_usd = remaining_usd
        self.needed_usd = needed_usd
        self.resets_at = resets_at


class StoreUnavailableError(CostmuxError):
    """The shared state store (Redis) could not be reached or failed to answer.

    Attributes:
        store: what the state is for (``budgets``, ``rate_limits``, ``health``).
        operation: the operation that failed (``reserve``, ``settle``, ...).
    """

    def __init__(self, message: str, *, store: str, operation: str) -> None:
        super().__init__(message)
        self.store = store
        self.operation = operation


class RoutingError(CostmuxError):
    """No model can take the request.

    Attributes:
        reasons: ``{"provider/model": "why it was rejected"}`` for every model considered.
    """

    def __init__(self, message: str, *, reasons: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.reasons = dict(reasons or {})


class BudgetExceededError(RoutingError):
    """Every model that could otherwise serve the request would cost more than ``max_cost`` in the worst case.

    Attributes:
        max_cost_usd: the cap that was asked for.
        cheapest_cost_usd: the smallest worst-case cost among the models the cap ruled out, with the least output
            a request may have (rounded up to a float): a cap of this much lets the request through.
    """

    def __init__(
        self,
        message: str,
        *,
        max_cost_usd: float,
        cheapest_cost_usd: float | None,
        reasons: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, reasons=reasons)
        self.max_cost_usd = max_cost_usd
        self.cheapest_cost_usd = cheapest_cost_usd


class NoModelAvailableError(RoutingError):
    """No model fits the request (context window, capabilities, price, health or rate limits); see ``reasons``."""


class ProviderError(CostmuxError):
    """A request to a provider failed.

    Attributes:
        status_code: HTTP status from the provider, or ``None`` when no response arrived.
        provider: provider name (e.g. ``"litellm"``).
        model: the model the request was for, when known.
        retryable: whether the same request may succeed if sent again.
        code: the provider's own error code or type (e.g. ``"no_db_connection"``), when given.
        request_sent: ``False`` when costmux refused the call itself before sending anything (client-side rate
            limit, a model cooling down): such a failure cost nothing.
    """

    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        provider: str | None = None,
        model: str | None = None,
        retryable: bool | None = None,
        code: str | None = None,
        request_sent: bool = True,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request_sent = request_sent
        self.status_code = status_code
        self.provider = provider
        self.model = model
        self.retryable = self.default_retryable if retryable is None else retryable
        self.code = code

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status_code={self.status_code!r}, "
            f"provider={self.provider!r}, model={self.model!r}, retryable={self.retryable!r})"
        )


class AuthenticationError(ProviderError):
    """The proxy refused the API key (401/403, or 400 ``no_db_connection`` for an unknown key)."""


class BadRequestError(ProviderError):
    """The proxy rejected the request as invalid; sending it again will not help."""


class ModelNotFoundError(ProviderError):
    """The model is not served by the proxy (the LiteLLM proxy answers 400 "Invalid model name", not 404)."""


class RateLimitError(ProviderError):
    """The proxy or its upstream throttled the request (429).

    Attributes:
        retry_after_s: seconds to wait before retrying, from ``llm_provider-retry-after`` or ``Retry-After``,
            or ``None`` when the response did not say.
    """

    default_retryable = True

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after_s = retry_after_s


class ProviderUnavailableError(ProviderError):
    """The proxy could not be reached, or it or its upstream failed (5xx)."""

    default_retryable = True


class ProviderTimeoutError(ProviderError):
    """No answer within the configured timeout."""

    default_retryable = True


class InvalidResponseError(ProviderError):
    """The proxy answered with a body or stream costmux cannot parse."""


class StreamInterruptedError(InvalidResponseError):
    """A stream stopped after delivering chunks but before its end marker; the output is incomplete."""


def redact(text: str, *secrets: str | None) -> str:
    """Return ``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
