"""Fast, pure, deterministic prompt analysis for routing.

:func:`analyze` looks at a chat request (OpenAI-style ``messages`` as dicts or attribute objects, plus
optional ``tools``, ``response_format`` and ``max_tokens``) and returns a :class:`PromptAnalysis`: token
figures, whether code is present, the task type, a complexity score in [0, 1] and the capabilities the
request needs (tools, JSON output, vision), each with a human-readable reason.

What is read, to stay fast (no I/O; bounded work per request whatever the prompt's length):

* token figures: every message, tool and schema, via :func:`app.tokens.count_prompt_tokens`;
* intent and code signals: only the **last user message** and the **system/developer** messages (their
  first :data:`SYSTEM_CHARS`); of a long user message only a head and a tail window (code:
  :data:`HEAD_CHARS` + :data:`TAIL_CHARS`; intent: :data:`INTENT_HEAD_CHARS` + :data:`INTENT_TAIL_CHARS`),
  since instructions sit at the start or the end of a prompt. Fenced code blocks are removed before
  intent words are matched, so words inside code ("error", "fix") do not steer the task type.
* intent is matched on a set of lower-cased words (one ``bytes.translate`` + ``split`` of the window,
  cut down to the known keywords with one set intersection) and on phrases (``bytes`` substring search,
  only when one of the phrase's words is present); code keywords are located with ``str.find`` and
  their context checked with anchored precompiled regexes (``.match`` at one position, no scanning).

One module per step, each importing only those above it:

* :mod:`~app.router.analysis.messages`: roles, texts and windows of the messages;
* :mod:`~app.router.analysis.code_signals`: whether a text is code, and why (:func:`detect_code`);
* :mod:`~app.router.analysis.lexicon` and :mod:`~app.router.analysis.intent`: the words the rules look for, and the
  task type, multi-step wording, constraints and JSON asks of the last user message (rule order:
  :data:`TASK_RULES_DOC`);
* :mod:`~app.router.analysis.complexity`: the complexity score (:func:`complexity_score`);
* :mod:`~app.router.analysis.request`: the :class:`PromptAnalysis` record and :func:`analyze`.
"""

from app.router.analysis.code_signals import CODE_SIGNAL_THRESHOLD, detect_code
from app.router.analysis.code_signals import HEAD_CHARS as HEAD_CHARS
from app.router.analysis.code_signals import TAIL_CHARS as TAIL_CHARS
from app.router.analysis.complexity import TASK_COMPLEXITY as TASK_COMPLEXITY
from app.router.analysis.complexity import complexity_score
from app.router.analysis.intent import INTENT_HEAD_CHARS as INTENT_HEAD_CHARS
from app.router.analysis.intent import INTENT_TAIL_CHARS as INTENT_TAIL_CHARS
from app.router.analysis.intent import LONG_PROMPT_TOKENS as LONG_PROMPT_TOKENS
from app.router.analysis.intent import SHORT_QUESTION_CHARS as SHORT_QUESTION_CHARS
from app.router.analysis.intent import SUBSTANTIAL_PROMPT_CHARS as SUBSTANTIAL_PROMPT_CHARS
from app.router.analysis.intent import TASK_RULES_DOC as TASK_RULES_DOC
from app.router.analysis.messages import SYSTEM_CHARS as SYSTEM_CHARS
from app.router.analysis.request import DEFAULT_OUTPUT_TOKENS, PromptAnalysis, analyze
from app.router.analysis.request import LONG_PROMPT_REASON_TOKENS as LONG_PROMPT_REASON_TOKENS
from app.tasks import TaskType

__all__ = [
    "CODE_SIGNAL_THRESHOLD",
    "DEFAULT_OUTPUT_TOKENS",
    "PromptAnalysis",
    "TaskType",
    "analyze",
    "complexity_score",
    "detect_code",
]
