"""A quality prior for a model the catalog does not know, from its price and its vendor's known models.

The rule (``docs/catalog.md``, "Unknown models"): among the catalog models of the same vendor (every catalog model
when the vendor is unknown) whose blended price (3 parts input to 1 part output, USD per token) is at most the
unknown model's, take the one with the best average quality: a vendor does not sell a model for more than a better
one of its own costs. The prior is that model's score per task, lowered by a margin, more on hard tasks (code,
maths, analysis) and more again for an unknown vendor, so a model nobody measured never outranks the measured one
it is compared with. A model cheaper than all of them starts from the cheapest, with a further margin. The result
is marked *assumed* wherever it is shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Final, NamedTuple

from app.catalog.entry import CatalogEntry
from app.catalog.names import vendor_of
from app.pricing import ModelPricing
from app.tasks import TaskType

__all__ = ["HARD_TASKS", "QualityPrior", "quality_prior"]

#: Tasks where a wrong guess costs most: a prior is lowered more on these.
HARD_TASKS: Final = frozenset(
    {TaskType.CODE_GENERATION, TaskType.CODE_REVIEW, TaskType.MATH_REASONING, TaskType.COMPLEX_ANALYSIS}
)
#: Margins below the reference model's score: (hard tasks, other tasks), for a known and an unknown vendor.
KNOWN_VENDOR_MARGIN: Final = (0.05, 0.02)
UNKNOWN_VENDOR_MARGIN: Final = (0.10, 0.05)
#: Extra margin when the model is cheaper than every reference (it starts from the cheapest one).
CHEAPER_THAN_ALL_MARGIN: Final = 0.05


class QualityPrior(NamedTuple):
    """An assumed quality per task, the catalog model it was derived from, and the rule in words."""

    quality: dict[TaskType, float]
    reference: str
    basis: str


def _blended(pricing: ModelPricing) -> Decimal:
    return (3 * pricing.input_usd_per_token + pricing.output_usd_per_token) / 4


def _average(entry: CatalogEntry) -> float:
    return sum(entry.quality.values()) / len(entry.quality)


def quality_prior(
    name: str, pricing: ModelPricing | None, entries: Iterable[CatalogEntry], *, vendor: str | None = None
) -> QualityPrior | None:
    """The prior for ``name`` (see the module doc), or ``None`` for an unpriced model (it is never routed) or an
    empty catalog. ``vendor`` defaults to the one its name reveals (:func:`~app.catalog.names.vendor_of`)."""
    if pricing is None or pricing.is_free:
        return None
    known = list(entries)
    vendor = vendor or vendor_of(name)
    same_vendor = [entry for entry in known if vendor is not None and entry.provider == vendor]
    references = same_vendor or known
    if not references:
        return None
    hard, other = KNOWN_VENDOR_MARGIN if same_vendor else UNKNOWN_VENDOR_MARGIN
    price = _blended(pricing)
    affordable = [entry for entry in references if _blended(entry.pricing) <= price]
    if affordable:
        reference = max(affordable, key=lambda entry: (_average(entry), entry.name))
        extra, how = 0.0, "the best-scoring one priced at or below it"
    else:
        reference = min(references, key=lambda entry: (_blended(entry.pricing), entry.name))
        extra, how = (
            CHEAPER_THAN_ALL_MARGIN,
            f"the cheapest one (it costs less than all), less {CHEAPER_THAN_ALL_MARGIN}",
        )
    quality = {
        task: round(max(0.0, score - (hard if task in HARD_TASKS else other) - extra), 4)
        for task, score in reference.quality.items()
    }
    scope = f"{vendor} models in the catalog" if same_vendor else "catalog models (vendor unknown)"
    basis = (
        f"assumed from {reference.name}, among {scope} {how}; lowered by {hard} on code, maths and analysis "
        f"and by {other} on other tasks"
    )
    return QualityPrior(quality, reference.name, basis)


def prior_margins() -> Mapping[str, tuple[float, float]]:
    """The margins of the rule, for documentation and tests."""
    return {"known_vendor": KNOWN_VENDOR_MARGIN, "unknown_vendor": UNKNOWN_VENDOR_MARGIN}
