"""Compare what the same request costs on every priced model the proxy serves."""

import asyncio

from app.providers import LiteLLMProvider


async def main() -> None:
    async with LiteLLMProvider() as provider:
        await provider.sync_pricing()
        prompt_tokens, completion_tokens = 1_000, 500
        print(f"Cost of {prompt_tokens} prompt + {completion_tokens} completion tokens:")
        for listed in await provider.get_available_models():
            model = listed["id"]
            info = provider.get_model_info(model)
            if info["pricing"] is None:
                print(f"  {model:20s} no price known")
                continue
            cost = provider.calculate_cost(prompt_tokens, completion_tokens, model)
            print(f"  {model:20s} ${cost:.6f}")


if __name__ == "__main__":
    asyncio.run(main())
