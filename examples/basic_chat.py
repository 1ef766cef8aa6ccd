"""Basic chat through the LiteLLM proxy. Needs LITELLM_BASE_URL (and LITELLM_API_KEY); model from argv[1]."""

import asyncio
import sys

from app.models import ChatMessage
from app.providers import LiteLLMProvider


async def main(model: str) -> None:
    async with LiteLLMProvider() as provider:
        response = await provider.chat_completion(
            messages=[ChatMessage(role="user", content="What is the capital of France?")],
            model=model,
            max_tokens=50,
        )
        print(f"Response: {response.choices[0].message.content}")
        print(f"Tokens: {response.usage.total_tokens}")
        print(f"Cost: ${response.cost_usd:.6f}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "gpt-4o-mini"))
