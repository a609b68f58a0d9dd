"""Run the `inspect` command with a stand-in for tiktoken's o200k_base token counter.

inspect's mockllm estimates token usage with tiktoken, which downloads its encoding on first use; these
test machines have no network, so the download is the one thing replaced (about 4 characters a token).
Everything else is the real `inspect` command line.
"""

from __future__ import annotations

import sys


def _offline_count(text: str) -> int:
    return max(1, len(text) // 4)


if __name__ == "__main__":
    import inspect_ai.model._model as model_module
    import inspect_ai.model._tokens as tokens_module

    tokens_module.count_text_tokens = model_module.count_text_tokens = _offline_count
    from inspect_ai._cli.main import main

    sys.argv = ["inspect", *sys.argv[1:]]
    main()
