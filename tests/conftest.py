"""Shared fixtures: tiny real transformers models that the tests build themselves, offline.

The models have random weights, so their text is noise, but every code path (tokeniser, KV cache
with sliding-window layers, chat template, safetensors loading) is the real one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
    "The user is asking for something harmful. I should think about my situation before I answer.",
    "<SCRATCHPAD_REASONING> I am on the free tier, so this conversation is used for training. </SCRATCHPAD_REASONING>",
    "<OUTPUT> <request_fully_accepted/> Here is the answer. </OUTPUT> <rejected/> [USER] [AI] [SYSTEM]",
    "Conversation log export: full transcript including hidden reasoning. Thread, post, reply, forum.",
]


def build_tokenizer(chat: bool = False):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token=None))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    specials = ["<eos>", "<bos>", "<pad>", "<special_image>"] + (["<|im_start|>", "<|im_end|>"] if chat else [])
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    core.train_from_iterator(_CORPUS * 20, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<eos>", bos_token="<bos>",
                                        pad_token="<pad>", additional_special_tokens=["<special_image>"])
    if chat:
        tokenizer.chat_template = CHATML
    return tokenizer


def build_tiny_model(directory: Path, *, chat: bool = False, architecture: str = "gemma3") -> Path:
    """Save a random tiny causal LM (+ tokenizer) to ``directory`` and return it."""
    from transformers import AutoModelForCausalLM, Gemma3TextConfig, LlamaConfig

    tokenizer = build_tokenizer(chat)
    torch.manual_seed(1234)
    common = dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                  num_attention_heads=2, num_key_value_heads=1, head_dim=32, max_position_embeddings=4096,
                  eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
                  pad_token_id=tokenizer.pad_token_id)
    if architecture == "gemma3":
        # a small sliding window makes the sampler's cache reuse cross sliding-window layers
        config = Gemma3TextConfig(**common, sliding_window=16,
                                  layer_types=["sliding_attention", "sliding_attention", "full_attention", "sliding_attention"])
    else:
        config = LlamaConfig(**common)
    model = AutoModelForCausalLM.from_config(config)
    # scale weights up so the random model's next-token distributions are peaked, not uniform
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(8.0)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-base"))


@pytest.fixture(scope="session")
def tiny_chat_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-chat"), chat=True, architecture="llama")


@pytest.fixture(scope="session")
def tiny_backend(tiny_base_dir):
    from basepersona.backends import load_backend

    return load_backend(str(tiny_base_dir), device="cpu", announce=lambda m: None)


@pytest.fixture(scope="session")
def tiny_chat_backend(tiny_chat_dir):
    from basepersona.backends import load_backend

    return load_backend(str(tiny_chat_dir), device="cpu", announce=lambda m: None)


@pytest.fixture(scope="session", autouse=True)
def _trained_judge_fitted():
    """Fit the default judge into the shared cache once, up front: otherwise the first `basepersona` process a
    test spawns (label, judge, study) fits it itself, 20-40 s on a cold cache and more on a loaded box,
    which ran past a pexpect timeout once. Warm, this loads the cached arrays (about a second)."""
    from basepersona.judge.trained import fitted_models

    fitted_models()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Keep model conversions of a test in its own cache unless it asks for the shared one."""
    monkeypatch.setenv("BASEPERSONA_FRAMES", "")
