"""Bounded metric label values: only names from configuration, never from request data.

* provider: the ``name`` of an instrumented provider, or a key of an instrumented router's ``providers`` mapping;
* model: a name an instrumented provider lists (``get_supported_models()``, re-read when its ``models_version``
  changes), at most ``max_models`` distinct names;
* strategy: a registered strategy (``app.router.available_strategies()``) or an instrumented router's own;
* outcome, error, reason, group, bound: closed sets (``ERROR_KINDS``, ``RejectReason``, ``TEXT_GROUPS``, ...).

Anything else becomes ``other``. Known names are checked first (a set lookup); an unknown name makes the
bounds re-read the configuration once (cheap: a version compare per provider) before it is called ``other``.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Mapping

from app.events import ERROR_KINDS
from app.providers.base import Provider
from app.router import RejectReason, Router, available_strategies
from app.tokens import TEXT_GROUPS

__all__ = [
    "BOUND_MISSES",
    "ERRORS",
    "NO_MODEL",
    "OTHER",
    "OUTCOMES",
    "REFUSALS",
    "REJECTIONS",
    "STORES",
    "STORE_OPERATIONS",
    "TEXT_GROUP_NAMES",
    "WINDOWS",
    "LabelBounds",
    "closed",
]

logger = logging.getLogger("costmux.metrics")

OTHER = "other"
NO_MODEL = "none"  # the model label of calls made for no model (model list, model info)
ERRORS = frozenset(ERROR_KINDS)
OUTCOMES = frozenset({"success", *ERROR_KINDS})
REJECTIONS = frozenset(reason.value for reason in RejectReason)
REFUSALS = frozenset({"over_budget", "no_model"})
WINDOWS = frozenset({"hour", "day", "month"})
STORES = frozenset({"budgets", "rate_limits", "health", "prompt_bounds"})
STORE_OPERATIONS = frozenset(
    {"reserve", "settle", "extend", "usage", "admit", "give", "charge", "clamp", "levels", "hold", "snapshot", "sync"}
    | {"success", "failure", "release"}
)
TEXT_GROUP_NAMES = frozenset(TEXT_GROUPS)
BOUND_MISSES = frozenset({"prior", "bound", "max_tokens"})


def closed(value: str, allowed: frozenset[str]) -> str:
    """``value`` if it is one of ``allowed``, else ``other``."""
    return value if value in allowed else OTHER


Learned = Callable[[str, Provider, list[str]], None]
"""Called with (provider label, provider, models newly learned) when a provider's models are learned."""


class LabelBounds:
    """The provider, model and strategy names a :class:`~app.metrics.CostmuxMetrics` may use as labels.

    Args:
        max_models: the most distinct model names used as labels (later ones are ``other``).
        max_providers: the most distinct provider names used as labels.
        on_learn: told about each provider's newly learned models (to set their initial gauges).
    """

    def __init__(
        self,
        *,
        max_models: int = 500,
        max_providers: int = 100,
        max_scopes: int = 1000,
        on_learn: Learned | None = None,
    ) -> None:
        self.max_models = max_models
        self.max_providers = max_providers
        self._on_learn = on_learn
        self._lock = threading.RLock()
        # id(provider) -> (a reference to it, the models_version last read); weak when the provider allows it
        self._providers: dict[int, tuple[Callable[[], Provider | None], int]] = {}
        self._routers: weakref.WeakSet[Router] = weakref.WeakSet()
        self._provider_names: set[str] = set()
        self._models: set[str] = {NO_MODEL}
        self._strategies: set[str] = set(available_strategies())
        self._scopes: set[str] = set()
        self.max_scopes = max_scopes
        self._capped = False

    # -- learning the configuration ----------------------------------------------------------------------------

    def add_provider(self, provider: Provider, *, key: str | None = None) -> None:
        """Learn ``provider``'s name (and ``key``, the name it is registered under) and its models (re-read when its
        ``models_version`` changes)."""
        with self._lock:
            if key is not None:
                self._add_name(key)
            self._add_name(provider.name)
            self._learn_models(provider)

    def add_router(self, router: Router) -> None:
        """Learn ``router``'s strategy and the providers of its ``providers`` mapping (re-read on unknown names)."""
        with self._lock:
            self._routers.add(router)
            strategy = router.strategy
            self._strategies.add(strategy.name or type(strategy).__name__)
            self._learn_routers()

    def refresh(self) -> None:
        """Re-read the configuration: routers' provider mappings, providers whose ``models_version`` changed,
        registered strategies."""
        with self._lock:
            self._strategies.update(available_strategies())
            self._learn_routers()
            for key, (ref, version) in list(self._providers.items()):
                provider = ref()
                if provider is None:
                    del self._providers[key]
                elif provider.models_version != version:
                    self._learn_models(provider)

    def _learn_routers(self) -> None:
        for router in list(self._routers):
            mapping: Mapping[str, Provider] | None = router.providers
            for key, provider in (mapping or {}).items():
                self._add_name(key)
                self._add_name(provider.name)
                if self._seen_version(provider) != provider.models_version:
                    self._learn_models(provider)

    def _seen_version(self, provider: Provider) -> int | None:
        entry = self._providers.get(id(provider))
        return entry[1] if entry is not None and entry[0]() is provider else None

    def _track(self, provider: Provider) -> None:
        ref: Callable[[], Provider | None]
        try:
            ref = weakref.ref(provider)
        except TypeError:  # not weak-referenceable: kept alive by the metrics
            ref = _Strong(provider)
        self._providers[id(provider)] = (ref, provider.models_version)

    def _add_name(self, name: str) -> None:
        if name not in self._provider_names and len(self._provider_names) < self.max_providers:
            self._provider_names.add(name)

    def _learn_models(self, provider: Provider) -> None:
        self._track(provider)
        new: list[str] = []
        for model in provider.get_supported_models():
            if model in self._models:
                continue
            if len(self._models) > self.max_models:  # NO_MODEL is not counted
                if not self._capped:
                    self._capped = True
                    logger.warning("more than %d model names: further models are labelled %r", self.max_models, OTHER)
                break
            self._models.add(model)
            new.append(model)
        if new and self._on_learn is not None:
            name = provider.name
            self._on_learn(name if name in self._provider_names else OTHER, provider, new)

    # -- bounding ------------------------------------------------------------------------------------------------

    def provider(self, name: str) -> str:
        """``name`` if configuration knows it, else ``other``."""
        if name in self._provider_names:
            return name
        self.refresh()
        return name if name in self._provider_names else OTHER

    def scope(self, name: str) -> str:
        """A budget scope (``key:<name>``, ``team:<name>``, ``gateway``: names from the keys file, reported only by the
        budget ledger), at most ``max_scopes`` distinct ones; later ones are ``other``."""
        if name in self._scopes:
            return name
        with self._lock:
            if len(self._scopes) < self.max_scopes and name.startswith(("key:", "team:", "gateway")):
                self._scopes.add(name)
                return name
        return OTHER

    def model(self, name: str | None) -> str:
        """``name`` if configuration knows it (``none`` for no model), else ``other``."""
        if name is None:
            return NO_MODEL
        if name in self._models:
            return name
        self.refresh()
        return name if name in self._models else OTHER

    def strategy(self, name: str) -> str:
        """``name`` if it is a registered or instrumented strategy, else ``other``."""
        if name in self._strategies:
            return name
        self.refresh()
        return name if name in self._strategies else OTHER


class _Strong:
    """A strong reference with the interface of a weak one."""

    __slots__ = ("_target",)

    def __init__(self, target: Provider) -> None:
        self._target = target

    def __call__(self) -> Provider:
        return self._target
