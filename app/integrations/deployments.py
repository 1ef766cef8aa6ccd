""":class:`ProxyDeployments`: the LiteLLM proxy's own deployments as a costmux :class:`~app.providers.Provider`, read in
process from the proxy's router (no HTTP to itself).

The router object is duck-typed (LiteLLM's ``Router``): ``model_list`` (deployment dicts with ``model_name``,
``litellm_params`` and ``model_info``) and ``get_deployment_model_info(model_id, model_name)`` (the deployment's
prices and windows, LiteLLM's cost map merged with the config). Each deployment is read into the same shape as the
proxy's ``/model/info`` answer and parsed by :func:`~app.providers.model_registry.parse_model_info`, so a model
group gets exactly the spec :class:`~app.providers.LiteLLMProvider` would sync over HTTP (highest price and
smallest window of its deployments, summed rate limits), with the bundled catalog filling in quality.

A cheap fingerprint of the router (its identity and its deployment list's identity and length) is checked on every
request; the deployments are re-read when it changes and at least every ``refresh_s`` (edits in place).

Like ``LiteLLMProvider``, it learns each model group's prompt bounds from what the proxy's calls were billed
(:meth:`ProxyDeployments.learn`, the same code path: :mod:`app.providers.bound_learning`); routers read them through
``prompt_bounds``, and each attempt's ``max_tokens`` is planned with its group's bound (:meth:`prompt_bound`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from app.catalog import ModelCatalog, default_catalog
from app.errors import ConfigurationError
from app.events import EventBus, HealthChanged
from app.models import ChatCompletionResponse, MessageInput
from app.pricing import ModelPricing
from app.providers.bound_learning import TokenFamilies, bind_learner, learn_from_usage
from app.providers.model_registry import ModelRegistry, ModelSpec, parse_model_info
from app.tokens import FamilyResolution, PromptBoundLearner, TokenCounts
from app.tokens.learning import Mode

__all__ = ["DeploymentInfo", "ProxyDeployments"]

# the parts of a deployment's litellm_params costmux reads (never its key or base URL)
_PARAMS_READ = ("model", "rpm", "tpm", "input_cost_per_token", "output_cost_per_token")


@dataclass(frozen=True, slots=True)
class DeploymentInfo:
    """One deployment: its model group, its own prices (USD per token; ``None``: unpriced) and output limit."""

    model_id: str
    group: str
    pricing: ModelPricing | None
    max_output_tokens: int | None


class ProxyDeployments:
    """The proxy's model groups as a costmux provider (see the module doc).

    Args:
        name: the provider name decisions and metrics use.
        catalog: fills in quality and capabilities (``"default"``: the bundled catalog; ``None``: none).
        refresh_s: re-read the deployments at least this often, seconds.
        clock: seconds (monotonic), for ``refresh_s``.
        prompt_bounds: learns each group's prompt bounds from the usage its calls were billed (default: a new
            in-memory :class:`~app.tokens.PromptBoundLearner`).
    """

    def __init__(
        self,
        name: str = "litellm",
        *,
        catalog: ModelCatalog | Literal["default"] | None = "default",
        refresh_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        prompt_bounds: PromptBoundLearner | None = None,
    ) -> None:
        self.name = name
        self.events = EventBus()
        self.refresh_s = refresh_s
        self._clock = clock
        self._registry = ModelRegistry(default_catalog() if catalog == "default" else catalog)
        self._entries: list[dict[str, Any]] | None = None
        self._deployments: dict[str, DeploymentInfo] = {}
        self._group_ids: dict[str, tuple[str, ...]] = {}
        self._fingerprint: tuple[int, int, int] | None = None
        self._read_at = 0.0
        self._unavailable: dict[str, tuple[str, str]] = {}
        self.prompt_bounds = prompt_bounds if prompt_bounds is not None else PromptBoundLearner()
        bind_learner(self.prompt_bounds, self.events, name)
        self._families = TokenFamilies(self._registry)

    def __repr__(self) -> str:
        return f"ProxyDeployments(name={self.name!r}, models={len(self._group_ids)})"

    # -- reading the proxy's router --------------------------------------------------------------------------------

    def sync(self, router: Any) -> bool:
        """Re-read ``router``'s deployments if they may have changed; returns whether what is known changed.

        Raises:
            ConfigurationError: a deployment has an invalid price or limit (the message names it).
        """
        model_list = getattr(router, "model_list", None) or []
        fingerprint = (id(router), id(model_list), len(model_list))
        if fingerprint == self._fingerprint and self._clock() - self._read_at < self.refresh_s:
            return False
        self._fingerprint = fingerprint
        self._read_at = self._clock()
        entries = [_entry(router, deployment) for deployment in model_list if isinstance(deployment, Mapping)]
        if entries == self._entries:
            return False
        self._load(entries)
        return True

    def _load(self, entries: list[dict[str, Any]]) -> None:
        specs = parse_model_info({"data": entries})
        deployments: dict[str, DeploymentInfo] = {}
        group_ids: dict[str, list[str]] = {}
        for entry in entries:
            model_id = entry["model_info"].get("id")
            if not isinstance(model_id, str) or not model_id:
                continue
            spec = parse_model_info({"data": [entry]})[entry["model_name"]]
            deployments[model_id] = DeploymentInfo(model_id, spec.name, spec.pricing, spec.max_output_tokens)
            group_ids.setdefault(spec.name, []).append(model_id)
        self._entries = entries
        self._deployments = deployments
        self._group_ids = {group: tuple(ids) for group, ids in group_ids.items()}
        self._registry.set_discovered(specs)

    def deployment(self, model_id: str | None) -> DeploymentInfo | None:
        """What is known of the deployment with LiteLLM's ``model_info.id`` ``model_id``."""
        return self._deployments.get(model_id) if model_id is not None else None

    def set_cooling(self, deployment_ids: Collection[str]) -> None:
        """Record LiteLLM's cooling deployments: a model group whose every deployment cools is unavailable until
        the next call (made just before each decision). A group that starts or stops cooling is reported as a
        :class:`~app.events.HealthChanged` (``open`` / ``closed``, like a circuit breaker)."""
        before = self._unavailable
        if not deployment_ids:
            self._unavailable = {}
        else:
            cooling = set(deployment_ids)
            self._unavailable = {
                group: ("unhealthy", f"all {len(ids)} of its deployments are cooling down in LiteLLM")
                for group, ids in self._group_ids.items()
                if ids and cooling.issuperset(ids)
            }
        if self.events.active and before.keys() != self._unavailable.keys():
            for group in before.keys() - self._unavailable.keys():
                self.events.emit(HealthChanged(self.name, group, "closed", 0.0))
            for group in self._unavailable.keys() - before.keys():
                self.events.emit(HealthChanged(self.name, group, "open", 0.0))

    # -- prompt bounds ---------------------------------------------------------------------------------------------

    def token_family(self, model: str) -> FamilyResolution:
        """``model``'s token family (``unknown`` for a group the proxy does not have)."""
        return self._families.of(model)

    def prompt_bound(self, model: str, prompt: TokenCounts, mode: Mode = "estimate") -> int:
        """The prompt bound of a request (``prompt``: its token counts) to group ``model``: its family's, as what the
        group was billed widened or tightened it, tokens."""
        return self._families.bound(self.prompt_bounds, model, prompt, mode)

    def learn(
        self,
        model: str,
        prompt: TokenCounts,
        *,
        billed_prompt_tokens: int | None,
        billed_completion_tokens: int | None,
        max_tokens: int | None,
    ) -> None:
        """Record an answered call of group ``model`` (``prompt``: the request's token counts; the billed prompt and
        completion tokens; the ``max_tokens`` sent): :func:`~app.providers.bound_learning.learn_from_usage`."""
        learn_from_usage(
            self.prompt_bounds,
            self._families,
            self.events,
            provider=self.name,
            model=model,
            prompt=prompt,
            billed_prompt_tokens=billed_prompt_tokens,
            billed_completion_tokens=billed_completion_tokens,
            max_tokens=max_tokens,
        )

    # -- the Provider interface -------------------------------------------------------------------------------------

    @property
    def models_version(self) -> int:
        return self._registry.version

    def get_supported_models(self) -> list[str]:
        """The proxy's model groups."""
        return self._registry.names()

    def get_model_spec(self, model: str) -> ModelSpec | None:
        return self._registry.get(model)

    async def ensure_model_info(self) -> None:
        """Nothing to fetch: :meth:`sync` reads the router in process."""

    async def chat_completion(
        self,
        messages: Iterable[MessageInput],
        model: str,
        max_tokens: int | None = None,
        temperature: float | None = None,
        *,
        rate_limit_timeout_s: float | None = None,
        retry_unanswered: bool = True,
        **params: Any,
    ) -> ChatCompletionResponse:
        """Inside the proxy LiteLLM sends the request; costmux only decides."""
        raise ConfigurationError("ProxyDeployments only describes the proxy's models: LiteLLM sends the requests")

    def model_availability(self, model: str, prompt_tokens: int) -> tuple[str, str] | None:
        return self._unavailable.get(model)

    def unavailable_models(self, prompt_tokens: int) -> Mapping[str, tuple[str, str]]:
        """Model groups whose every deployment LiteLLM is cooling down (see :meth:`set_cooling`)."""
        return self._unavailable


def _entry(router: Any, deployment: Mapping[str, Any]) -> dict[str, Any]:
    """One deployment in the shape of a ``/model/info`` entry: its own ``model_info`` overlaid with what LiteLLM
    knows of its model (the cost map merged with the config), and the few ``litellm_params`` costmux reads."""
    params: Mapping[str, Any] = deployment.get("litellm_params") or {}
    own: Mapping[str, Any] = deployment.get("model_info") or {}
    merged: Mapping[str, Any] | None = None
    model_id, litellm_model = own.get("id"), params.get("model")
    if isinstance(model_id, str) and isinstance(litellm_model, str):
        try:
            merged = router.get_deployment_model_info(model_id=model_id, model_name=litellm_model)
        except Exception:  # LiteLLM raises assorted errors for models outside its map: the config still applies
            merged = None
    info = {**own, **{k: v for k, v in (merged or {}).items() if v is not None}}
    info["id"] = model_id
    return {
        "model_name": str(deployment.get("model_name") or ""),
        "litellm_params": {key: params[key] for key in _PARAMS_READ if key in params},
        "model_info": info,
    }
