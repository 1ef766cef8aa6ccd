"""The routing table: ~40 fixed prompts, the model each router picks under a $0.01 cap, and why.

Regenerate the checked-in expectation after an intended change with::

    python -m tests.router.routing_table > tests/router/data/routing_table.md
"""

from __future__ import annotations

from app.providers import LiteLLMProvider
from app.router import CostOptimizedRouter, HeuristicRouter

FLEET = (
    "gpt-4o",
    "gpt-4o-mini",
    "claude-3-5-sonnet",
    "claude-3-haiku",
    "llama-3.1-8b-instruct",
    "mistral-small",
    "gemini-1.5-flash",
)
MAX_COST_USD = 0.01

LONG_REPORT = (
    "Quarterly report. Revenue grew 12% to $4.2M while churn rose from 3.1% to 4.0%. The sales team doubled, "
    "support tickets grew 40%, and the new self-serve tier brought 300 customers at a lower price point. "
) * 25

PROMPTS: tuple[tuple[str, str], ...] = (
    ("greeting", "Hi there!"),
    ("capital", "What is the capital of Australia?"),
    ("definition", "What does HTTP stand for?"),
    ("date fact", "When did the Berlin Wall fall?"),
    ("unit", "How many centimeters are in an inch?"),
    ("yes/no", "Is a tomato a fruit?"),
    ("who", "Who wrote Pride and Prejudice?"),
    ("arithmetic", "What is 17 * 23?"),
    ("word problem", "A train travels 120 km in 1.5 hours, then 80 km in 1 hour. What is its average speed?"),
    ("proof", "Prove that the square root of 2 is irrational. Show your work step by step."),
    ("probability", "Calculate the probability of rolling at least one six in four throws of a fair die."),
    ("equation", "Solve the equation 3x^2 - 12x + 9 = 0 and explain each step."),
    ("py function", "Write a Python function that returns the n-th Fibonacci number using memoization."),
    ("sql", "Write a SQL query that returns the top 5 customers by total order value in 2023."),
    ("js component", "Implement a React component in TypeScript that shows a paginated, sortable table."),
    ("cli script", "Write a bash script that backs up /etc to a dated tarball and keeps the last 7 backups."),
    (
        "review",
        "Review this code and fix the bug:\n```python\ndef mean(xs):\n    return sum(xs) / len(xs) - 1\n```",
    ),
    (
        "refactor",
        "Refactor this for readability:\n```js\n"
        "function f(a){if(a){return a.map(x=>x*2).filter(x=>x>3)}else{return []}}\n```",
    ),
    ("debug", "Why does this raise KeyError?\n```python\nd = {'a': 1}\nprint(d['b'])\n```"),
    ("translate fr", "Translate into French: The meeting has been moved to Thursday at 10am."),
    ("translate ja", "Translate to Japanese: Thank you for your patience while we fix the outage."),
    ("translate de", "Please translate this paragraph into German: Our product helps teams ship faster."),
    ("summary", "Summarize the following report in three bullet points:\n" + LONG_REPORT),
    ("tldr", "TL;DR of this: " + LONG_REPORT[:1200]),
    ("key points", "Give me the key points of this memo: we are moving offices on June 1; pack your desks."),
    ("poem", "Write a short poem about autumn leaves."),
    ("haiku", "Write a haiku about a router choosing the cheapest model."),
    ("story", "Write a bedtime story about a brave little toaster, about 300 words."),
    ("lyrics", "Write song lyrics about a long drive home."),
    (
        "compare",
        "Compare PostgreSQL and MongoDB for an e-commerce catalog with frequent schema changes. Evaluate "
        "consistency, query flexibility, operations and cost, then recommend one.",
    ),
    (
        "tradeoffs",
        "Analyze the trade-offs of microservices versus a modular monolith for a 12-person startup. First list "
        "the criteria, then evaluate each option step by step, and conclude with a recommendation that must "
        "state its assumptions.",
    ),
    ("long analysis", "Analyze this report and evaluate the risks to next quarter:\n" + LONG_REPORT * 2),
    ("strategy", "Evaluate the pros and cons of raising prices by 15% for our SaaS product given churn data."),
    ("general chat", "Tell me something interesting about octopuses."),
    ("advice", "I have a job interview tomorrow for a backend role. Any tips?"),
    ("email", "Draft a polite email declining a meeting invitation next Tuesday."),
    ("list", "List five healthy breakfast ideas."),
    ("explain", "Explain how a hash map works to a beginner."),
    ("recipe", "Give me a simple recipe for pancakes."),
    ("json", "Return a JSON object with the fields name, age and city for a fictional person."),
)


def fleet_provider() -> LiteLLMProvider:
    """A provider serving FLEET at the bundled catalog's prices (no proxy needed)."""
    provider = LiteLLMProvider("http://proxy.invalid:4000", "sk-table")
    for name in FLEET:
        spec = provider.get_model_spec(name)
        assert spec is not None and spec.pricing is not None, name
        provider.add_custom_model(name, spec.pricing)
    return provider


def render_table() -> str:
    """The routing table as Markdown."""
    providers = {"litellm": fleet_provider()}
    routers = {"heuristic": HeuristicRouter(), "cost_optimized": CostOptimizedRouter()}
    lines = [
        f"# Routing table (max_cost ${MAX_COST_USD}, fleet: {', '.join(FLEET)})",
        "",
        "Generated by `python -m tests.router.routing_table`; checked by tests/router/test_routing_table.py.",
        "",
        "| prompt | task | complexity | heuristic | cost_optimized | why (cost_optimized) |",
        "|---|---|---|---|---|---|",
    ]
    for label, text in PROMPTS:
        messages = [{"role": "user", "content": text}]
        decisions = {
            name: router.decide(messages, providers, max_cost=MAX_COST_USD) for name, router in routers.items()
        }
        analysis = decisions["cost_optimized"].analysis
        lines.append(
            f"| {label} | {analysis.task_type} | {analysis.complexity:.2f} | {decisions['heuristic'].model} | "
            f"{decisions['cost_optimized'].model} | {decisions['cost_optimized'].reason} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_table(), end="")
