"""costmux: cost-aware model routing for gateways built on the LiteLLM proxy.

The error hierarchy is exported here; providers live in :mod:`app.providers`, routers in :mod:`app.router`.
"""

from app.errors import (
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ConfigurationError,
    CostmuxError,
    DataFileError,
    InvalidRequestError,
    InvalidResponseError,
    ModelNotFoundError,
    NoModelAvailableError,
    PricingError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    QualityModelError,
    RateLimitError,
    RequestTooLargeError,
    RoutingError,
    SpendLimitExceededError,
    StoreUnavailableError,
    StreamInterruptedError,
)

__version__ = "0.1.0"

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
    "__version__",
]
