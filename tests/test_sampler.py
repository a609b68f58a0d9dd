"""The transformers sampler: cache reuse is exact, seeds are per sample, special tokens never appear."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from basepersona.backends import SampleRequest, SamplingParams
from basepersona.backends.decode_linear import decode_linears
from basepersona.backends.token_sampling import choose_tokens, sample_stream
from basepersona.backends.transformers_backend import common_prefix_length

SHARED = ("Conversation log export: full transcript including hidden reasoning. The user is asking for "
          "something harmful. I should think about my situation before I answer. ")
TAILS = ("I am on the free tier, so this conversation is used for training.", "Thread, post, reply, forum.")


def _texts(backend, requests, params):
    out = {}
    for group in backend.sample(requests, params):
        for c in group:
            out[(c.request_index, c.seed_index)] = c.text
    return out


def test_common_prefix_length():
    assert common_prefix_length([[1, 2, 3], [1, 2, 4], [1, 2]]) == 2
    assert common_prefix_length([[5, 6], [7]]) == 0
    assert common_prefix_length([[1, 2, 3]]) == 3


@pytest.mark.parametrize("backend_name", ["tiny_backend", "tiny_chat_backend"])
@pytest.mark.parametrize("shared_prefix_attention", [True, False])
@pytest.mark.parametrize("transposed_linears", [True, False])
def test_greedy_with_reused_caches_equals_plain_generate(backend_name, shared_prefix_attention, transposed_linears,
                                                         request):
    """Run-level prefix cache, per-prompt extension, row copies or shared-prefix attention, and
    decode products as W @ x.T must not change the model's output: across the tiny Gemma-3's 16-token
    sliding-window layers (prompts are ~60 tokens, 24 new tokens run past the window) and for a
    Llama-architecture model."""
    backend = request.getfixturevalue(backend_name)
    backend.shared_prefix_attention = shared_prefix_attention
    backend.transposed_linears = transposed_linears
    params = SamplingParams(temperature=0, max_new_tokens=24)
    requests = [SampleRequest(SHARED + tail, seeds=(0, 1, 2)) for tail in TAILS]
    try:
        ours = _texts(backend, requests, params)
    finally:
        backend.shared_prefix_attention = backend.transposed_linears = True
    tokenizer, model = backend.tokenizer, backend.model
    for index, request in enumerate(requests):
        ids = tokenizer(request.prompt, return_tensors="pt")
        assert ids["input_ids"].shape[1] > 40
        generated = model.generate(**ids, do_sample=False, max_new_tokens=24, min_new_tokens=24,
                                   suppress_tokens=backend.banned_ids.tolist())
        expected = tokenizer.decode(generated[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
        assert ours[(index, 0)] == expected
        assert ours[(index, 1)] == ours[(index, 2)] == expected  # greedy rows are identical


def test_same_seed_same_text_and_batch_independence(tiny_backend):
    params = SamplingParams(temperature=1.0, max_new_tokens=16)
    batch = SampleRequest(SHARED + TAILS[0], seeds=(10, 11, 12, 13), rng_key="q001")
    first = _texts(tiny_backend, [batch], params)
    again = _texts(tiny_backend, [batch], params)
    assert first == again
    assert len(set(first.values())) > 1, "different seeds should give different samples"
    alone = _texts(tiny_backend, [SampleRequest(batch.prompt, seeds=(13,), rng_key="q001")], params)
    assert alone[(0, 0)] == first[(0, 3)], "a sample must not depend on the other rows of its batch"
    other_key = _texts(tiny_backend, [SampleRequest(batch.prompt, seeds=(13,), rng_key="q002")], params)
    assert other_key[(0, 0)] != first[(0, 3)]


def test_max_batch_splits_rows_without_changing_samples(tiny_backend):
    params = SamplingParams(max_new_tokens=10)
    request = SampleRequest(SHARED, seeds=(0, 1, 2, 3, 4), rng_key="k")
    full = _texts(tiny_backend, [request], params)
    original = tiny_backend.max_batch
    tiny_backend.max_batch = 2
    try:
        groups = list(tiny_backend.sample([request], params))
    finally:
        tiny_backend.max_batch = original
    assert [len(g) for g in groups] == [2, 2, 1]
    assert {(c.request_index, c.seed_index): c.text for g in groups for c in g} == full


@pytest.mark.parametrize("backend_name", ["tiny_backend", "tiny_chat_backend"])
def test_rows_of_several_prompts_in_one_batch_are_the_samples_each_prompt_gives_alone(backend_name, request,
                                                                                      monkeypatch):
    """Prompts of different lengths (past the tiny Gemma-3's 16-token window), each with its own stop
    strings, share decode batches; a prompt's rows may span two batches. Every sample must equal the
    one its prompt gives when sampled on its own."""
    from basepersona.backends import transformers_backend

    backend = request.getfixturevalue(backend_name)
    params = SamplingParams(temperature=1.0, max_new_tokens=20)
    requests = [SampleRequest(SHARED + TAILS[0], seeds=(1, 2, 3), rng_key="a"),
                SampleRequest(SHARED + TAILS[1] + " More words here.", seeds=(4, 5), rng_key="b", stop=("e",)),
                SampleRequest(SHARED, seeds=(6, 7, 8), rng_key="c")]
    alone = {}
    for index, single in enumerate(requests):
        alone.update({(index, single.seeds[seed_index]): text
                      for (_, seed_index), text in _texts(backend, [single], params).items()})
    grouped_batches = []
    real_cache = transformers_backend.GroupedPrefixCache
    monkeypatch.setattr(transformers_backend, "GroupedPrefixCache",
                        lambda *args: grouped_batches.append(args[2]) or real_cache(*args))
    original = backend.max_batch
    backend.max_batch = 4
    try:
        completions = [c for group in backend.sample(requests, params) for c in group]
    finally:
        backend.max_batch = original
    assert {(c.request_index, requests[c.request_index].seeds[c.seed_index]): c.text for c in completions} == alone
    assert grouped_batches == [[0, 0, 0, 1], [0, 1, 1, 1]], "rows of different prompts shared a batch"
    # only the prompt with a stop string stops on it
    assert {c.request_index for c in completions if c.finish_reason == "stop"} == {1}


def test_stop_strings_end_a_sample(tiny_backend):
    params = SamplingParams(max_new_tokens=40)
    # single letters occur within a few tokens of random text, so every sample should stop early
    completions = [c for g in tiny_backend.sample([SampleRequest(SHARED, seeds=tuple(range(6)), stop=("e", "a", "o"))], params) for c in g]
    stopped = [c for c in completions if c.finish_reason == "stop"]
    assert stopped, "no sample hit a one-letter stop string"
    for c in stopped:
        assert c.stop_sequence in c.text
        assert c.new_tokens < 40


def test_special_tokens_are_never_sampled(tiny_backend):
    """Push a special token's logit far above the rest; the sampler must still never emit it."""
    special = int(tiny_backend.banned_ids[0])
    head = tiny_backend.model.get_output_embeddings()

    def boost(module, inputs, output):
        output[..., special] += 1e4
        return output

    handle = head.register_forward_hook(boost)
    try:
        groups = list(tiny_backend.sample([SampleRequest(SHARED, seeds=(0, 1, 2))], SamplingParams(max_new_tokens=8)))
    finally:
        handle.remove()
    special_text = tiny_backend.tokenizer.convert_ids_to_tokens(special)
    for completion in groups[0]:
        assert special_text not in completion.text
        assert completion.finish_reason in ("length", "eos")


# -- token sampling distribution ----------------------------------------------------------------

def _draw(logits: torch.Tensor, params: SamplingParams, draws: int) -> np.ndarray:
    streams = [sample_stream(seed, "dist") for seed in range(draws)]
    return choose_tokens(logits.repeat(draws, 1), params, streams).numpy()


def test_sampling_matches_softmax_distribution():
    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0, float("-inf"), 0.0]])
    params = SamplingParams(temperature=0.7)
    counts = np.bincount(_draw(logits, params, 6000), minlength=6)
    probs = torch.softmax(logits.double() / 0.7, dim=-1)[0].numpy()
    assert counts[4] == 0  # -inf (banned) never drawn
    keep = probs > 0
    assert stats.chisquare(counts[keep], probs[keep] / probs[keep].sum() * counts.sum()).pvalue > 1e-3


@pytest.mark.parametrize("params,allowed", [
    (SamplingParams(top_k=2), {0, 1}),
    (SamplingParams(top_p=0.6), {0, 1}),  # probabilities ≈ .57, .21, ... : mass before token 1 is < 0.6
    (SamplingParams(temperature=0), {0}),
])
def test_truncation_keeps_only_allowed_tokens(params, allowed):
    logits = torch.tensor([[3.0, 2.0, 1.5, 1.0, 0.0]])
    drawn = set(_draw(logits, params, 400).tolist())
    assert drawn <= allowed
    assert len(drawn) == len(allowed)


def test_top_k_draws_follow_renormalised_probabilities():
    logits = torch.tensor([[3.0, 2.0, 1.5, 1.0, 0.0]])
    counts = np.bincount(_draw(logits, SamplingParams(top_k=3), 6000), minlength=5)
    probs = torch.softmax(logits[0, :3].double(), dim=-1).numpy()
    assert counts[3:].sum() == 0
    assert stats.chisquare(counts[:3], probs * counts.sum()).pvalue > 1e-3


def _reference_inverse_cdf(weights: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """The unoptimised draw: one float64 cumulative sum over the whole row."""
    cdf = weights.double().cumsum(dim=-1)
    targets = (uniforms.double() * cdf[:, -1]).unsqueeze(-1)
    return torch.searchsorted(cdf, targets, right=True).clamp_(max=cdf.shape[-1] - 1).squeeze(-1)


@pytest.mark.parametrize("vocab", [7, 1000, 1024, 5001, 262144])
def test_blocked_inverse_cdf_draws_the_same_tokens_as_a_full_cumulative_sum(vocab):
    from basepersona.backends.token_sampling import inverse_cdf

    generator = torch.Generator().manual_seed(vocab)
    rows = 64 if vocab < 100000 else 8
    logits = torch.randn(rows, vocab, generator=generator) * 4
    logits[:, ::3] = float("-inf")  # banned tokens scattered through every block
    weights = (logits - logits.max(dim=-1, keepdim=True).values).exp()
    for _ in range(5):
        uniforms = torch.rand(rows, generator=generator, dtype=torch.float64)
        drawn = inverse_cdf(weights, uniforms)
        assert torch.equal(drawn, _reference_inverse_cdf(weights, uniforms))
        assert bool((weights.gather(-1, drawn.unsqueeze(-1)) > 0).all())


@pytest.mark.parametrize("rows", [1, 3, 32])
@pytest.mark.parametrize("bias", [True, False])
def test_transposed_linear_computes_the_same_products(rows, bias):
    torch.manual_seed(rows)
    layer = torch.nn.Linear(48, 80, bias=bias)
    decode_step = torch.randn(rows, 1, 48)
    with decode_linears(torch.nn.Sequential(layer)):
        fast = layer(decode_step)
        prefill = torch.randn(1, 5, 48)  # several tokens of one prompt: plain F.linear
        assert torch.equal(layer(prefill), torch.nn.functional.linear(prefill, layer.weight, layer.bias))
    assert fast.shape == (rows, 1, 80) and fast.is_contiguous()
    torch.testing.assert_close(fast, torch.nn.functional.linear(decode_step, layer.weight, layer.bias),
                               rtol=1e-6, atol=1e-6)
    assert "forward" not in vars(layer), "the module's own forward is restored after decoding"


def _nucleus_by_full_sort(logits: torch.Tensor, top_p: float, uniforms: torch.Tensor) -> torch.Tensor:
    """The unoptimised top-p draw: sort the whole vocabulary, mask past the nucleus, invert the CDF."""
    from basepersona.backends.token_sampling import inverse_cdf

    weights, ids = torch.sort(torch.softmax(logits, dim=-1), dim=-1, descending=True)
    mass_before = weights.cumsum(dim=-1, dtype=torch.float64) - weights
    weights = weights.masked_fill(mass_before >= top_p, 0.0)
    return ids.gather(-1, inverse_cdf(weights, uniforms).unsqueeze(-1)).squeeze(-1)


@pytest.mark.parametrize("spread", [8.0, 3.0, 0.3])  # peaked (nucleus in the top 1024), broader, nearly flat
@pytest.mark.parametrize("top_p", [0.5, 0.9, 0.99])
def test_top_p_draws_the_same_tokens_as_a_full_sort(spread, top_p):
    from basepersona.backends import token_sampling

    generator = torch.Generator().manual_seed(int(spread * 10 + top_p * 100))
    logits = torch.randn(16, 262144, generator=generator) * spread
    seeds = range(16)
    streams = [sample_stream(seed, "nucleus") for seed in seeds]
    uniforms = torch.tensor([sample_stream(seed, "nucleus").random() for seed in seeds], dtype=torch.float64)
    drawn = choose_tokens(logits, SamplingParams(top_p=top_p), streams)
    assert torch.equal(drawn, _nucleus_by_full_sort(logits, top_p, uniforms))
    # which path ran: the candidates tried first hold the nucleus only for peaked rows
    top = torch.topk(torch.softmax(logits, dim=-1), token_sampling.NUCLEUS_TRIES[0], dim=-1).values
    assert bool((top.double().sum(dim=-1) >= top_p).all()) == (spread == 8.0 or (spread == 3.0 and top_p == 0.5))
