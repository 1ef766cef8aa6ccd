"""Model prices, held exactly, in one unit: USD per token as :class:`~decimal.Decimal`.

This is the one place where price units are converted. Accepted spellings of a price table:

========================================  ====================================================
keys                                      unit
========================================  ====================================================
``input`` / ``output``                    USD per 1K tokens (the seed's ``{"input": 0.03, ...}``)
``input_per_1k`` / ``output_per_1k``      USD per 1K tokens
``input_per_1m`` / ``output_per_1m``      USD per 1M tokens
``input_cost_per_token`` / ``output_cost_per_token``  USD per token (LiteLLM's ``model_info``)
``input_per_token`` / ``output_per_token``            USD per token
========================================  ====================================================

Floats are converted through their shortest ``repr`` (``0.03`` becomes ``Decimal("0.03")``, not the binary
expansion), strings are parsed as decimals (the proxy returns ``"1e-05"``). Negative, NaN and infinite prices
are rejected. A price of 0 is a real price (a free local model); an unknown price is ``None`` upstream of
this module and never reaches it as 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict

from app.errors import ConfigurationError

__all__ = [
    "ATTO_USD_PER_USD",
    "AttoUsd",
    "CostSource",
    "ModelPricing",
    "atto_to_usd",
    "decimal_str",
    "parse_pricing",
    "resolve_actual_cost",
    "to_atto_usd",
    "to_decimal_usd",
]

CostSource = Literal["proxy", "computed", "unknown"]

_PER_1K = Decimal(1000)
_PER_1M = Decimal(1_000_000)

# key suffix -> tokens per priced unit
_UNIT_KEYS: dict[str, tuple[str, Decimal]] = {
    "{side}": ("per 1K tokens", _PER_1K),
    "{side}_per_1k": ("per 1K tokens", _PER_1K),
    "{side}_per_1m": ("per 1M tokens", _PER_1M),
    "{side}_cost_per_token": ("per token", Decimal(1)),
    "{side}_per_token": ("per token", Decimal(1)),
}


def to_decimal_usd(value: Any, *, field: str = "price") -> Decimal:
    """Convert a price or cost given as int, float, str or Decimal to an exact, finite, non-negative Decimal.

    Raises:
        ConfigurationError: the value is not a number, or is negative, NaN or infinite.
    """
    if isinstance(value, bool):
        raise ConfigurationError(f"{field} must be a number, not a bool")
    try:
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, int | str):
            number = Decimal(str(value).strip())
        elif isinstance(value, float):
            number = Decimal(repr(value))
        else:
            raise ConfigurationError(f"{field} must be a number, got {type(value).__name__}")
    except InvalidOperation as exc:
        raise ConfigurationError(f"{field} must be a number, got {value!r}") from exc
    if not number.is_finite():
        raise ConfigurationError(f"{field} must be finite, got {value!r}")
    if number < 0:
        raise ConfigurationError(f"{field} must not be negative, got {value!r}")
    return number


#: The router's internal money unit: 10⁻¹⁸ USD. Prices and costs in it are Python ints, which are exact and several
#: times faster than Decimal on the routing hot path; a price that is not a whole number of atto-USD per token
#: (more than 18 decimals) stays an exact Decimal in the same unit, and ints and Decimals compare exactly.
ATTO_USD_PER_USD: Final = 10**18
AttoUsd = int | Decimal


def to_atto_usd(usd: Decimal) -> AttoUsd:
    """``usd`` in atto-USD, exactly: an int when whole, else a Decimal."""
    scaled = usd.scaleb(18)
    whole = scaled.to_integral_value(rounding=ROUND_FLOOR)
    return int(whole) if whole == scaled else scaled


def atto_to_usd(atto: AttoUsd) -> Decimal:
    """atto-USD (int or Decimal) back to exact Decimal USD."""
    return (atto if isinstance(atto, Decimal) else Decimal(atto)).scaleb(-18)


def atto_usd_str(atto: AttoUsd) -> str:
    """An atto-USD amount as plain USD text, like ``decimal_str(atto_to_usd(atto))`` (an int is formatted
    directly: this is in every routing decision's reason)."""
    if type(atto) is int and atto >= 0:
        whole, fraction = divmod(atto, ATTO_USD_PER_USD)
        return f"{whole}.{fraction:018d}".rstrip("0") if fraction else str(whole)
    return decimal_str(atto_to_usd(atto))


def decimal_str(value: Decimal) -> str:
    """Plain decimal notation without trailing zeros or exponent: ``Decimal("3E+1")`` → ``"30"``."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


class ModelPricing(BaseModel):
    """Prices of one model in USD per token, exact.

    ``cost_usd(prompt_tokens, completion_tokens)`` is exact, additive and monotone in both token counts.
    """

    model_config = ConfigDict(frozen=True)

    input_usd_per_token: Decimal
    output_usd_per_token: Decimal

    @property
    def is_free(self) -> bool:
        """True when both prices are exactly zero (a free local model)."""
        return self.input_usd_per_token == 0 and self.output_usd_per_token == 0

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        """Exact cost in USD of ``prompt_tokens`` input and ``completion_tokens`` output tokens."""
        if prompt_tokens < 0 or completion_tokens < 0:
            raise ConfigurationError("token counts must not be negative")
        return prompt_tokens * self.input_usd_per_token + completion_tokens * self.output_usd_per_token

    def per_1k(self) -> tuple[Decimal, Decimal]:
        """(input, output) in USD per 1K tokens, for display."""
        return self.input_usd_per_token * _PER_1K, self.output_usd_per_token * _PER_1K

    def per_1m(self) -> tuple[Decimal, Decimal]:
        """(input, output) in USD per 1M tokens, for display."""
        return self.input_usd_per_token * _PER_1M, self.output_usd_per_token * _PER_1M


def _side_price(table: Mapping[str, Any], side: str) -> Decimal | None:
    found: list[tuple[str, Decimal]] = []
    for pattern, (_label, tokens_per_unit) in _UNIT_KEYS.items():
        key = pattern.format(side=side)
        if key in table and table[key] is not None:
            found.append((key, to_decimal_usd(table[key], field=f"pricing[{key!r}]") / tokens_per_unit))
    if len(found) > 1:
        keys = ", ".join(repr(key) for key, _ in found)
        raise ConfigurationError(f"pricing gives the {side} price more than once ({keys}); give one")
    return found[0][1] if found else None


def parse_pricing(table: Mapping[str, Any] | ModelPricing) -> ModelPricing:
    """Read a price table in any accepted unit (see the module docstring) into :class:`ModelPricing`.

    Both the input and the output price must be given. Unknown keys are rejected so that a typo such as
    ``"inptu"`` cannot silently leave a model unpriced.

    Raises:
        ConfigurationError: a price is missing, duplicated, unknown, negative, NaN or infinite.
    """
    if isinstance(table, ModelPricing):
        return table
    if not isinstance(table, Mapping):
        raise ConfigurationError(f"pricing must be a mapping, got {type(table).__name__}")
    known = {pattern.format(side=side) for pattern in _UNIT_KEYS for side in ("input", "output")}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigurationError(
            f"unknown pricing keys {unknown}; use input/output (USD per 1K tokens), "
            "input_per_1m/output_per_1m, or input_cost_per_token/output_cost_per_token"
        )
    input_price = _side_price(table, "input")
    output_price = _side_price(table, "output")
    if input_price is None or output_price is None:
        missing = "input" if input_price is None else "output"
        raise ConfigurationError(f"pricing has no {missing} price")
    return ModelPricing(input_usd_per_token=input_price, output_usd_per_token=output_price)


def resolve_actual_cost(
    reported_usd: Decimal | None,
    prompt_tokens: int,
    completion_tokens: int,
    pricing: ModelPricing | None,
) -> tuple[Decimal | None, CostSource]:
    """The actual cost of a finished call, and where it came from.

    The proxy's reported cost (``x-litellm-response-cost`` or a stream's ``usage.cost``) is used when it is
    positive, or when zero is plausible (no tokens, or a model priced at zero). A reported 0 for tokens of a model
    we know a price for means the proxy had no price (LiteLLM counts those as $0), so the cost is computed from our
    price instead. With neither, the cost is unknown (``None``), never 0.
    """
    if reported_usd is not None and (
        reported_usd > 0 or prompt_tokens + completion_tokens == 0 or (pricing is not None and pricing.is_free)
    ):
        return reported_usd, "proxy"
    if pricing is not None:
        return pricing.cost_usd(prompt_tokens, completion_tokens), "computed"
    return None, "unknown"
