"""Model names as LiteLLM users write them, reduced to what identifies the model.

A name is read as ``[route/][region or org segments/]model`` (see :func:`parse_name`):

- ``route``: the LiteLLM provider the proxy calls (``openai``, ``azure``, ``bedrock``, ``vertex_ai``, ``gemini``,
  ``openrouter``, ``together_ai``, ...): the first segment, unless it names the model's owner (``meta-llama/``,
  ``Qwen/``); a Bedrock model id (``anthropic.claude-...``) has the route ``bedrock``. It decides whether the
  catalog's list price applies (a host sets its own price);
- ``regional``: a regional deployment, which some clouds price above the global list price (Bedrock's ``us.`` /
  ``eu.`` / ``apac.`` / ``jp.`` / ``au.`` / ``us-gov.`` inference profiles and region segments, Azure's ``eu/`` and
  ``us/`` data zones); Bedrock's ``global.`` is not regional;
- ``exact``: the last segment, lower case: matched first, against names and aliases;
- ``canonical``: the model without decorations: Bedrock vendor prefixes and ``-v1:0`` / ``-1:0`` versions, Vertex ``@``
  versions, dates (``-20250929``, ``-2025-04-14``, ``-09-2025``), ``-preview``, ``-latest`` after a version number
  (``claude-3-5-sonnet-latest``; an unversioned pointer such as ``mistral-large-latest`` moves across generations
  and is kept), quantisation and host
  suffixes (``-fp8``, ``-maas``, ``-tput``); dots and Fireworks' ``p`` between digits become dashes (``4.5`` =
  ``4-5`` = ``4p5``); Claude names put the tier first (``claude-3-5-sonnet`` = ``claude-sonnet-3-5``); Llama names are
  reduced to family, version and size (or Llama 4's Scout/Maverick).

Four-digit snapshot suffixes (``-0613``, ``-1106``, ``-0528``) are never stripped: snapshots differ in price and
quality, so they match only through explicit aliases. Nothing else is stripped, so ``gpt-4o-mini`` never reads as
``gpt-4o``, nor ``gpt-5-nano`` as ``gpt-5``.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

__all__ = ["ParsedName", "parse_name", "vendor_of"]

#: First segments that name a LiteLLM provider route (aliases map to one route).
_ROUTES: Final = {
    **{
        name: name
        for name in (
            "openai", "azure", "azure_ai", "anthropic", "bedrock", "vertex_ai", "gemini", "openrouter",
            "together_ai", "fireworks_ai", "groq", "deepinfra", "mistral", "deepseek", "xai", "dashscope",
            "moonshot", "zai", "cerebras", "sambanova", "nebius", "novita", "hyperbolic", "ollama", "ollama_chat",
            "hosted_vllm", "vllm", "lm_studio", "databricks", "snowflake", "watsonx", "oci", "replicate",
            "perplexity", "github_copilot", "vercel_ai_gateway", "aihubmix", "cloudflare", "friendliai", "baseten",
            "lambda_ai", "nscale", "gmi", "sail", "crusoe", "volcengine", "qwen_ai_platform", "qwencloud",
            "llamagate", "scaleway", "ovhcloud", "wandb", "inferenceapis", "coralbricks", "gradient_ai",
            "heroku", "meta_llama", "anyscale", "cohere_chat", "github", "codestral", "text-completion-openai",
            "custom_openai", "litellm_proxy", "sagemaker", "huggingface", "featherless_ai", "nvidia_nim",
            "bedrock_mantle",
        )
    },
    "bedrock_converse": "bedrock",
    "vertex_ai_beta": "vertex_ai",
    "palm": "gemini",
}  # fmt: skip

#: First segments that name the model's owner (Hugging Face style ids), not a route: ``meta-llama/Llama-4-Scout``.
_ORGS: Final = frozenset(
    {
        "meta-llama", "meta", "mistralai", "qwen", "deepseek-ai", "moonshotai", "zai-org", "thudm", "google",
        "x-ai", "xai-org", "microsoft", "nvidia", "openai-community", "alibaba", "z-ai",
    }
)  # fmt: skip

_CLOUD_REGION = re.compile(r"^(?:[a-z]{2}(?:-gov)?-[a-z]+-\d+|eu|us|jp|au|apac|in|us-gov)$")
_BEDROCK_ID = re.compile(
    r"^(?:(?P<region>us|eu|apac|jp|au|ca|sa|in|us-gov|global)\.)?"
    r"(?P<vendor>anthropic|meta|mistral|deepseek|qwen|moonshotai|moonshot|openai|xai|google|amazon|cohere|ai21|minimax|zai)\."
)
_HOST_PREFIX = re.compile(r"^(?:databricks-|anthropic-(?=claude))")
_DECORATION = re.compile(
    r"(?:-v\d+:\d+|-\d+:\d+|-v1|:\d+|@[\w.\-]+|-\d{4}-\d{2}-\d{2}|-20\d{6}|-\d{2}-20\d{2}|-preview|-fp8|-fp4"
    r"|-maas|-tput|-instruct-basic)$"
)
_DECIMAL_P = re.compile(r"(?<=\d)p(?=\d)")
_CLAUDE_OLD_ORDER = re.compile(r"^claude-(?P<version>\d+(?:-\d+)?)-(?P<tier>opus|sonnet|haiku)(?P<rest>.*)$")
_LLAMA = re.compile(
    r"^(?:meta-)?llama-?(?P<major>\d+)(?:-(?P<minor>\d+))?-(?P<size>\d+b)"
    r"(?:-(?:instruct|chat))?(?:-(?:turbo|hf|\d{4,5}|instant|versatile))*$"
)
_LLAMA4 = re.compile(r"^(?:meta-)?llama-?4-(?P<variant>scout|maverick)(?:-.*)?$")

#: Family prefixes of the canonical key -> the vendor that makes the model (for priors of unknown models).
_VENDORS: Final = (
    (("gpt-", "o1", "o3", "o4", "chatgpt-", "codex-"), "openai"),
    (("claude-",), "anthropic"),
    (("gemini-", "gemma-"), "google"),
    (("llama-", "llama3", "llama4", "meta-llama"), "meta"),
    (("mistral-", "mixtral-", "magistral-", "codestral-", "ministral-", "devstral-", "open-mistral", "open-mixtral"),
     "mistral"),
    (("deepseek-",), "deepseek"),
    (("qwen", "qwq-"), "alibaba"),
    (("grok-",), "xai"),
    (("kimi-", "moonshot-"), "moonshot"),
    (("glm-",), "zhipu"),
)  # fmt: skip


class ParsedName(NamedTuple):
    """A model name read as described in the module doc."""

    route: str | None
    regional: bool
    exact: str
    canonical: str


def parse_name(name: str) -> ParsedName:
    """Read a model name (any case, with or without route prefix, as LiteLLM users write it)."""
    segments = [part for part in name.strip().lower().split("/") if part]
    if not segments:
        return ParsedName(None, False, "", "")
    route: str | None = None
    if len(segments) > 1 and segments[0] not in _ORGS:
        route = _ROUTES.get(segments[0], segments[0])  # an unknown first segment is a host of its own
    middle = segments[1:-1] if route is not None else segments[:-1]
    regional = any(_CLOUD_REGION.match(part) for part in middle)
    last = segments[-1].strip()
    bedrock_id = _BEDROCK_ID.match(last)
    if bedrock_id is not None and route is None:
        route = "bedrock"  # anthropic.claude-..., us.meta.llama4-...: Bedrock model ids
    regional = regional or (bedrock_id is not None and bedrock_id["region"] not in (None, "global"))
    return ParsedName(route, regional, last, canonical_key(last))


def canonical_key(last: str) -> str:
    """The canonical form of one name segment (see the module doc)."""
    key = last.strip().lower()
    bedrock = _BEDROCK_ID.match(key)
    if bedrock is not None:
        key = key[bedrock.end() :]
        if bedrock["vendor"] == "deepseek" and not key.startswith("deepseek"):
            key = f"deepseek-{key}"  # Bedrock's deepseek.v3-v1:0, deepseek.r1-v1:0
    key = _HOST_PREFIX.sub("", key)
    while True:
        stripped = _DECORATION.sub("", key)
        if stripped.endswith("-latest") and any(char.isdigit() for char in stripped[: -len("-latest")]):
            stripped = stripped[: -len("-latest")]
        if stripped == key or not stripped:
            break
        key = stripped
    key = _DECIMAL_P.sub("-", key.replace(".", "-").replace("_", "-"))
    claude = _CLAUDE_OLD_ORDER.match(key)
    if claude is not None:
        key = f"claude-{claude['tier']}-{claude['version']}{claude['rest']}"
    llama4 = _LLAMA4.match(key)
    if llama4 is not None:
        return f"llama-4-{llama4['variant']}"
    llama = _LLAMA.match(key)
    if llama is not None:
        version = llama["major"] + (f"-{llama['minor']}" if llama["minor"] is not None else "")
        key = f"llama-{version}-{llama['size']}"
    return key


def vendor_of(name: str) -> str | None:
    """The vendor whose model family ``name`` belongs to (``"openai"``, ``"anthropic"``, ...), or ``None``."""
    key = parse_name(name).canonical
    for prefixes, vendor in _VENDORS:
        if key.startswith(prefixes):
            return vendor
    return None
