"""Streaming chat: print tokens as they arrive, then the usage and cost of the whole stream."""

import asyncio
import sys

from app.providers import LiteLLMProvider


async def main(model: str) -> None:
    async with LiteLLMProvider() as provider:
        stream = provider.stream_chat_completion(
            messages=[{"role": "user", "content": "Tell me a short story about a robot."}],
            model=model,
            max_tokens=60,
        )
        async for chunk in stream:
            content = chunk["choices"][0]["delta"].get("content")
            if content:
                print(content, end="", flush=True)
        print()
        print(f"Tokens: {stream.usage.total_tokens}")
        print(f"Cost: ${stream.cost_usd:.6f}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "gpt-4o-mini"))
