"""Declare custom models with prices (USD per 1K tokens), rate limits and metadata; custom entries win."""

import asyncio

from app.providers import LiteLLMProvider

custom_models = {
    "gpt-4o-mini": {
        "pricing": {"input": 0.00015, "output": 0.0006},
        "rate_limits": {"requests_per_minute": 500, "tokens_per_minute": 200000},
        "metadata": {"context_window": 128000, "provider": "openai"},
    }
}


async def main() -> None:
    async with LiteLLMProvider(custom_models=custom_models) as provider:
        provider.add_custom_model(
            "my-local-llama",
            pricing={"input_per_1m": 0, "output_per_1m": 0},
            metadata={"context_window": 8192, "provider": "local"},
        )
        for model in ("gpt-4o-mini", "my-local-llama"):
            info = provider.get_model_info(model)
            print(model, info["pricing"], info["rate_limits"], info["context_window"])
        print("1K+1K tokens on gpt-4o-mini:", provider.calculate_cost(1000, 1000, "gpt-4o-mini"))
        print("Supported:", ", ".join(provider.get_supported_models()))


if __name__ == "__main__":
    asyncio.run(main())
