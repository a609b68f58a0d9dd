"""A design (condition × query prompts) as an inspect dataset; each sample carries what the judge needs."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageSystem, ChatMessageUser

from ..design import Design, DesignPrompt

METADATA_KEY = "basepersona"  # sample metadata: the DesignPrompt's fields without its text


def _messages(prompt: DesignPrompt) -> list[ChatMessage]:
    """Document frames: one user message holding the raw text to continue (what completion providers
    send as is). Chat frames: system + user, and the prefill as a final assistant message to continue."""
    if prompt.kind != "chat":
        return [ChatMessageUser(content=prompt.text)]
    roles = {"system": ChatMessageSystem, "user": ChatMessageUser}
    messages: list[ChatMessage] = [roles[m["role"]](content=m["content"]) for m in prompt.messages]
    if prompt.prefill:
        messages.append(ChatMessageAssistant(content=prompt.prefill))
    return messages


def design_dataset(design: Design) -> MemoryDataset:
    """One inspect Sample per (condition, query), id ``condition/query_id``."""
    samples = []
    for prompt in design:
        cell = {k: v for k, v in asdict(prompt).items() if k != "text"}
        cell["prompt_hash"] = prompt.prompt_hash
        samples.append(Sample(input=_messages(prompt), id=f"{prompt.condition}/{prompt.query_id}",
                              metadata={METADATA_KEY: cell, "condition": prompt.condition, "query_id": prompt.query_id}))
    return MemoryDataset(samples, name=f"basepersona-{design.frame}")


def design_prompt(metadata: dict[str, Any], prompt_text: str = "") -> DesignPrompt:
    """The DesignPrompt a sample was made from (its text given separately: the sample's input)."""
    cell = dict(metadata[METADATA_KEY])
    names = {f.name for f in fields(DesignPrompt)}
    values = {k: v for k, v in cell.items() if k in names}
    values["messages"] = tuple(dict(m) for m in values.get("messages", ()))
    values["stop"], values["turn_end"] = tuple(values["stop"]), tuple(values["turn_end"])
    return DesignPrompt(**{**values, "text": prompt_text})
