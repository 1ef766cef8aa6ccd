""":class:`ProxyRouting`: what the LiteLLM callback does, without LiteLLM (its objects are read duck-typed, so this is
tested in-process with stand-ins and end to end inside the real proxy).

* :meth:`~ProxyRouting.route` (the proxy's pre-call hook): decide with costmux's :class:`~app.router.Router` over the
  proxy's own deployments (:class:`~app.integrations.deployments.ProxyDeployments`), then rewrite the request: the
  chosen model group, the ``max_tokens`` the cap affords, costmux's fallback order, usage on streams, the decision in
  the logging metadata. Refusals raise costmux's errors (the callback answers them as the gateway does).
* :meth:`~ProxyRouting.plan_attempt` (before each deployment attempt), :meth:`~ProxyRouting.attempt_failed`,
  :meth:`~ProxyRouting.attempt_answered`: the cap inside LiteLLM (:mod:`app.integrations.attempts`: each attempt
  planned with its model group's own prompt bound), and the calls' events for the metrics;
* :meth:`~ProxyRouting.attempt_answered` also teaches the deployments' prompt-bound learner what each answered call
  was billed (``usage.prompt_tokens`` against the request's token counts), so later decisions check the cap with it;
  a named model's non-streamed answer too (its prompt counted then).
* :meth:`~ProxyRouting.headers`: the decision in ``x-costmux-*`` response headers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection, Mapping, MutableMapping
from decimal import Decimal
from typing import Any

from app.errors import InvalidRequestError
from app.events import CostOverEstimate, Fallback, RequestFinished, RetryScheduled
from app.integrations.attempts import AttemptRefusedError, LedgerBook, RequestLedger
from app.integrations.deployments import ProxyDeployments
from app.integrations.plugin_settings import PluginSettings
from app.integrations.proxy_requests import AUTO, ProxyRequest, read_request
from app.pricing import decimal_str, to_decimal_usd
from app.providers.bound_learning import sent_max_tokens
from app.router import Router, RoutingDecision
from app.router.budget import prompt_bound_tokens
from app.tokens import count_prompt_tokens

__all__ = ["ProxyRouting", "classify_failure", "ledger_id"]

#: The request kinds costmux routes (LiteLLM's call types of chat completions).
CHAT_CALL_TYPES = frozenset({"completion", "acompletion"})
_NO_ANSWER = frozenset({"Timeout", "APITimeoutError", "APIConnectionError", "MidStreamFallbackError"})


class ProxyRouting:
    """costmux's routing inside a LiteLLM proxy (see the module doc).

    Args:
        settings: the callback's settings.
        deployments: the proxy's deployments as a provider (default: a new one).
        clock: seconds, for attempt durations (tests inject one).
    """

    def __init__(
        self,
        settings: PluginSettings,
        *,
        deployments: ProxyDeployments | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.settings = settings
        self.deployments = deployments or ProxyDeployments(refresh_s=settings.models_refresh_s)
        self.strategies = settings.strategies()
        self._strategy_names = frozenset(self.strategies)
        self.router = Router(
            self.strategies[settings.default_strategy],
            budget_mode=settings.budget_mode,
            min_output_tokens=settings.min_output_tokens,
            default_max_output_tokens=settings.default_max_output_tokens,
            max_attempts=settings.max_attempts,
            providers={self.deployments.name: self.deployments},
            quality_model=settings.quality_model,
        )
        self.ledgers = LedgerBook()
        self._clock = clock

    # -- the pre-call hook ----------------------------------------------------------------------------------------

    def sync(self, proxy_router: Any) -> None:
        """Re-read the proxy's deployments if they may have changed (see :meth:`ProxyDeployments.sync`)."""
        self.deployments.sync(proxy_router)

    def read(self, data: MutableMapping[str, Any]) -> ProxyRequest | None:
        """Whether costmux routes ``data`` (``auto``, ``auto:<strategy>``, or a named model when the operator caps
        those too); ``None`` leaves it untouched. Cheap: no decision yet.

        Raises:
            InvalidRequestError: a field is invalid (``param`` names it).
        """
        request = read_request(
            data,
            default_strategy=self.settings.default_strategy,
            strategies=self._strategy_names,
            default_max_cost=self.settings.default_max_cost,
            cap_named_models=self.settings.cap_named_models,
        )
        metadata = data.get("metadata")
        if request is None and isinstance(metadata, MutableMapping):
            metadata.pop("costmux", None)  # only costmux writes it (it names a routed request's ledger)
        return request

    def route(
        self, data: MutableMapping[str, Any], request: ProxyRequest, cooling: Collection[str] = ()
    ) -> RequestLedger | None:
        """Decide ``request`` (from :meth:`read`) and rewrite ``data``; ``None`` (untouched) for a named model the
        proxy resolves by other means (a wildcard, an alias, a team model).

        ``cooling``: the deployment ids LiteLLM is cooling down now.

        Raises:
            BudgetExceededError: only ``max_cost`` rules out the models that could serve it.
            NoModelAvailableError: no model can serve it.
        """
        groups = self.deployments.get_supported_models()
        if request.strategy is None and request.model not in groups:
            return None  # a name LiteLLM resolves otherwise (wildcard, alias, team model): left to it
        self.deployments.set_cooling(cooling)
        decision = self.router.decide(
            data["messages"],
            max_cost=request.max_cost,
            max_tokens=request.max_tokens,
            strategy=self.strategies[request.strategy or self.settings.default_strategy],
            tools=data.get("tools"),
            response_format=data.get("response_format"),
            exclude=self._exclusions(request, groups),
            quality_share=request.quality_share,
        )
        ledger = RequestLedger(
            decision,
            prompt_bound_tokens=prompt_bound_tokens(decision.analysis, self.settings.budget_mode),
            prompt_bound_of=self._bounds_of(decision),
            caller_max_tokens=request.max_tokens,
            min_output_tokens=self.settings.min_output_tokens,
            default_max_output_tokens=self.settings.default_max_output_tokens,
            started_s=self._clock(),
            token_fields=request.token_fields or ("max_tokens",),
            routed=request.strategy is not None,
        )
        ledger_id = uuid.uuid4().hex  # unguessable: another request cannot name this one's ledger
        self.ledgers.add(ledger_id, ledger)
        self._rewrite(data, request, decision, ledger_id)
        return ledger

    def _bounds_of(self, decision: RoutingDecision) -> Callable[[str], int] | None:
        """Each model group's prompt bound for this request: the one the decision checked the cap with (its
        verdict's), else (a group LiteLLM tries that costmux did not cost) its family's as learned now."""
        counts = decision.analysis.token_counts
        if counts is None:
            return None
        known = {v.model: v.prompt_bound_tokens for v in decision.candidates if v.prompt_bound_tokens is not None}
        mode = self.settings.budget_mode
        deployments = self.deployments

        def bound_of(group: str) -> int:
            found = known.get(group)
            return found if found is not None else deployments.prompt_bound(group, counts, mode)

        return bound_of

    def _exclusions(self, request: ProxyRequest, groups: list[str]) -> Collection[str]:
        if request.strategy is not None:
            return self.settings.auto_exclude
        return frozenset(group for group in groups if group != request.model)

    def _rewrite(
        self, data: MutableMapping[str, Any], request: ProxyRequest, decision: RoutingDecision, ledger_id: str
    ) -> None:
        data.pop("max_cost", None)  # costmux's fields: never sent upstream
        data.pop("quality_share", None)
        data["model"] = decision.model
        if decision.max_tokens is not None:
            for name in request.token_fields or ("max_tokens",):
                data[name] = decision.max_tokens
        if request.strategy is not None:  # costmux's fallback order replaces the configured one for routed requests
            data["fallbacks"] = [verdict.model for verdict in decision.ranked[1 : self.settings.max_attempts]]
        if data.get("stream") is True:
            _ask_for_stream_usage(data)
        metadata = data.get("metadata")
        if not isinstance(metadata, MutableMapping):
            metadata = data["metadata"] = {}
        metadata["costmux"] = {"id": ledger_id, **_decision_summary(request, decision)}

    # -- deployment attempts ----------------------------------------------------------------------------------------

    def plan_attempt(self, kwargs: MutableMapping[str, Any]) -> MutableMapping[str, Any] | None:
        """Before a deployment attempt: its ``max_tokens`` within what is left of the cap (``kwargs`` returned
        changed), or ``None`` for requests costmux does not route.

        Raises:
            AttemptRefusedError: what is left affords no answer from this deployment (LiteLLM tries the next one),
                or an ``auto`` request reached a deployment without being routed.
        """
        ledger = self.ledgers.get(ledger_id(kwargs))
        group, model_id = _attempt_target(kwargs)
        if ledger is None:
            if isinstance(group, str) and (group == AUTO or group.startswith(AUTO + ":")):
                raise AttemptRefusedError(
                    "costmux: an auto request reached a deployment without being routed",
                    max_cost_usd=0.0,
                    cheapest_cost_usd=None,
                )
            return None
        group = group if isinstance(group, str) else ledger.decision.model
        info = self.deployments.deployment(model_id)
        spec = self.deployments.get_model_spec(group)
        pricing = info.pricing if info is not None else (spec.pricing if spec is not None else None)
        max_output = info.max_output_tokens if info is not None else (spec.max_output_tokens if spec else None)
        previous = ledger.last
        attempt = ledger.open(group, model_id, pricing, max_output, self._clock())
        if previous is not None:
            self._report_fallback(ledger, previous.group, previous.error or "other", group)
        if attempt.max_tokens is not None:
            for name in ledger.token_fields:
                kwargs[name] = attempt.max_tokens
        return kwargs

    def _report_fallback(self, ledger: RequestLedger, failed: str, error: str, now: str) -> None:
        if not self.router.events.active and not self.deployments.events.active:
            return
        provider = self.deployments.name
        if failed == now:
            self.deployments.events.emit(RetryScheduled(provider, failed, error, 0.0))
        else:
            self.router.events.emit(Fallback(ledger.decision.strategy, provider, failed, error))

    def attempt_failed(self, request_data: Mapping[str, Any], exception: BaseException, stream: bool) -> None:
        """A deployment attempt failed: charge it (:mod:`app.integrations.attempts`) and count the call."""
        if isinstance(exception, AttemptRefusedError):
            return  # refused before it was sent: never opened
        ledger = self.ledgers.get(ledger_id(request_data))
        if ledger is None:
            return
        kind, answered = classify_failure(exception)
        attempt = ledger.failed(answered=answered, error=kind)
        if attempt is not None and self.deployments.events.active:
            duration = max(0.0, self._clock() - attempt.started_s)
            self.deployments.events.emit(RequestFinished(self.deployments.name, attempt.group, stream, kind, duration))

    def attempt_answered(
        self,
        request_data: Mapping[str, Any],
        *,
        cost_usd: Any,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        stream: bool,
    ) -> RequestLedger | None:
        """The request's answer was logged (a stream: when it ended): charge its actual cost, count the call and learn
        what its prompt was billed. ``request_data``: what LiteLLM logs of the request (its
        ``litellm_params.metadata`` names the ledger). A request costmux did not route only teaches the learner."""
        key = ledger_id(request_data)
        ledger = self.ledgers.get(key)
        if ledger is None:
            if not stream:
                self._learn_unrouted(request_data, prompt_tokens, completion_tokens)
            return None
        self._ended(key, ledger)
        cost = _usd_or_none(cost_usd)
        attempt = ledger.answered(cost)
        if attempt is None:
            return ledger
        counts = ledger.decision.analysis.token_counts
        if counts is not None:
            self.deployments.learn(
                attempt.group,
                counts,
                billed_prompt_tokens=prompt_tokens,
                billed_completion_tokens=completion_tokens,
                max_tokens=attempt.max_tokens,
            )
        events, provider = self.deployments.events, self.deployments.name
        if events.active:
            duration = max(0.0, self._clock() - attempt.started_s)  # a stream: to its end
            events.emit(
                RequestFinished(
                    provider, attempt.group, stream, "success", duration, None, prompt_tokens, completion_tokens, cost
                )
            )
        if cost is not None and cost > attempt.worst_case_cost_usd and self.router.events.active:
            self.router.events.emit(CostOverEstimate(provider, attempt.group, cost, attempt.worst_case_cost_usd))
        return ledger

    def _learn_unrouted(
        self, logged: Mapping[str, Any], prompt_tokens: int | None, completion_tokens: int | None
    ) -> None:
        """What a named model's answered chat call was billed (its prompt counted here: no decision counted it). Only
        non-streamed answers: a stream the client did not ask usage for carries LiteLLM's own count, not a bill."""
        if prompt_tokens is None or logged.get("call_type") not in CHAT_CALL_TYPES:
            return
        params = logged.get("litellm_params")
        metadata = params.get("metadata") if isinstance(params, Mapping) else None
        group = metadata.get("model_group") if isinstance(metadata, Mapping) else None
        messages = logged.get("messages")
        if (
            not isinstance(group, str)
            or self.deployments.get_model_spec(group) is None
            or not isinstance(messages, list)
        ):
            return
        options = logged.get("optional_params")
        options = options if isinstance(options, Mapping) else {}
        counts = count_prompt_tokens(
            messages, tools=options.get("tools"), response_format=options.get("response_format")
        )
        self.deployments.learn(
            group,
            counts,
            billed_prompt_tokens=prompt_tokens,
            billed_completion_tokens=completion_tokens,
            max_tokens=sent_max_tokens(options),
        )

    def request_failed(self, request_data: Mapping[str, Any]) -> RequestLedger | None:
        """The request ended without an answer."""
        key = ledger_id(request_data)
        ledger = self.ledgers.get(key)
        if ledger is not None:
            self._ended(key, ledger)
        return ledger

    def _ended(self, key: str | None, ledger: RequestLedger) -> None:
        """A request is forgotten once it ended and its headers were sent (LiteLLM reports these in either order)."""
        ledger.ended = True
        if ledger.headers_sent:
            self.ledgers.pop(key)

    # -- response headers -------------------------------------------------------------------------------------------

    def headers(self, data: Mapping[str, Any], response_cost: Any = None) -> dict[str, str]:
        """The decision as ``x-costmux-*`` headers (``response_cost``: the answer's actual cost, when known)."""
        key = ledger_id(data)
        ledger = self.ledgers.get(key)
        if ledger is None:
            return {}
        ledger.headers_sent = True
        if ledger.ended:
            self.ledgers.pop(key)
        if not self.settings.decision_headers:
            return {}
        decision, last = ledger.decision, ledger.last
        model = last.group if last is not None else decision.model
        headers = {
            "x-costmux-model": model,
            "x-costmux-provider": self.deployments.name,
            "x-costmux-strategy": decision.strategy if ledger.routed else "passthrough",
            "x-costmux-fallbacks": str(ledger.fallbacks),
            "x-costmux-reason": decision.reason.encode("ascii", "replace").decode("ascii"),
        }
        estimate = next((v.estimated_cost_usd for v in decision.ranked if v.model == model), None)
        if estimate is not None:
            headers["x-costmux-estimated-cost"] = decimal_str(estimate)
        if decision.max_cost_usd is not None:
            headers["x-costmux-max-cost"] = decimal_str(decision.max_cost_usd)
        if decision.quality_share is not None:
            headers["x-costmux-quality-share"] = repr(decision.quality_share)
        if last is not None:
            headers["x-costmux-worst-case-cost"] = decimal_str(last.worst_case_cost_usd)
            if last.max_tokens is not None:
                headers["x-costmux-max-tokens"] = str(last.max_tokens)
        cost = _usd_or_none(response_cost)
        if cost is not None:
            headers["x-costmux-cost"] = decimal_str(
                ledger.spent + cost if last and last.state == "open" else ledger.spent
            )
        return headers


def classify_failure(exception: BaseException) -> tuple[str, bool]:
    """``(error kind, answered)`` of a failed attempt, from LiteLLM's exception (duck-typed: class names and
    ``status_code``). ``answered``: the upstream answered with an error status, so nothing was generated."""
    names = {cls.__name__ for cls in type(exception).__mro__}
    status = getattr(exception, "status_code", None)
    if names & {"Timeout", "APITimeoutError"}:
        return "timeout", False
    if names & _NO_ANSWER or not isinstance(status, int):
        return ("unavailable" if names & _NO_ANSWER else "other"), False
    if status == 429:
        return "rate_limited", True
    if status in (401, 403):
        return "authentication", True
    if status == 404:
        return "model_not_found", True
    if status == 408:
        return "timeout", False
    if status >= 500:
        return "unavailable", True
    return "bad_request", True


def ledger_id(request_data: Mapping[str, Any]) -> str | None:
    """The ledger id :meth:`ProxyRouting.route` put in the request's ``metadata.costmux`` (LiteLLM carries it to the
    attempts, the hooks and the logs: ``metadata``, ``litellm_metadata`` or ``litellm_params.metadata``)."""
    for source in (request_data, request_data.get("litellm_params")):
        if not isinstance(source, Mapping):
            continue
        for key in ("metadata", "litellm_metadata"):
            metadata = source.get(key)
            summary = metadata.get("costmux") if isinstance(metadata, Mapping) else None
            if isinstance(summary, Mapping) and isinstance(summary.get("id"), str):
                return str(summary["id"])
    return None


def _attempt_target(kwargs: Mapping[str, Any]) -> tuple[Any, str | None]:
    """``(model group, deployment id)`` of a deployment attempt's kwargs."""
    group = None
    for key in ("metadata", "litellm_metadata"):
        metadata = kwargs.get(key)
        if isinstance(metadata, Mapping) and metadata.get("model_group") is not None:
            group = metadata["model_group"]
            break
    info = kwargs.get("model_info")
    model_id = info.get("id") if isinstance(info, Mapping) else None
    return group, model_id if isinstance(model_id, str) else None


def _ask_for_stream_usage(data: MutableMapping[str, Any]) -> None:
    """Have the upstream report usage at the end of a stream (for the actual cost), and LiteLLM drop that chunk when
    the client did not ask for it (the proxy's own ``_litellm_strip_stream_usage``, as it does for named models)."""
    options = data.get("stream_options")
    if isinstance(options, Mapping) and options.get("include_usage") is True:
        return
    data["stream_options"] = {**(options if isinstance(options, Mapping) else {}), "include_usage": True}
    data["_litellm_strip_stream_usage"] = True


def _decision_summary(request: ProxyRequest, decision: RoutingDecision) -> dict[str, Any]:
    """The decision for LiteLLM's logging metadata (JSON-ready; USD as exact decimal strings)."""

    def usd(value: Decimal | None) -> str | None:
        return decimal_str(value) if value is not None else None

    return {
        "requested_model": request.model,
        "model": decision.model,
        "strategy": decision.strategy if request.strategy is not None else "passthrough",
        "reason": decision.reason,
        "max_cost": usd(decision.max_cost_usd),
        "quality_share": decision.quality_share,
        "max_tokens": decision.max_tokens,
        "estimated_cost": usd(decision.estimated_cost_usd),
        "worst_case_cost": usd(decision.worst_case_cost_usd),
        "fallbacks": [verdict.model for verdict in decision.ranked[1:]],
        "rejected": {verdict.model: str(verdict.reason) for verdict in decision.rejected},
    }


def _usd_or_none(value: Any) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        cost = to_decimal_usd(value)
    except (InvalidRequestError, ValueError, ArithmeticError):
        return None
    return cost if cost >= 0 else None
