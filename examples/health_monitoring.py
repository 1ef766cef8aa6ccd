"""Check the proxy's health (liveliness + readiness: free, no model is called) and list what it serves."""

import asyncio

from app.providers import LiteLLMProvider


async def main() -> None:
    async with LiteLLMProvider() as provider:
        healthy = await provider.health_check()
        print(f"Proxy healthy: {healthy}")
        if healthy:
            available_models = await provider.get_available_models()
            print(f"Available models: {[model['id'] for model in available_models]}")


if __name__ == "__main__":
    asyncio.run(main())
