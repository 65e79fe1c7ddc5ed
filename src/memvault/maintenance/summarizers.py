"""Summarizers: turn a group of related memories into one short text.

- ``ExtractiveSummarizer`` (the default) works offline with the store's own
  model: it splits the memories into sentences, embeds them, and keeps the few
  most central ones (closest to the group's mean), skipping any that repeat a
  kept one, in the order they were first said.
- ``ChatSummarizer`` asks an OpenAI-compatible chat-completions endpoint
  (``MEMVAULT_SUMMARY_URL``, ``MEMVAULT_SUMMARY_MODEL``, optional
  ``MEMVAULT_SUMMARY_API_KEY``): a local Ollama or llama.cpp server, or a hosted
  one, for abstractive summaries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol

import httpx
import numpy as np

from ..errors import InvalidInput, StoreUnavailable
from ..model import Memory
from .duplicates import text_key

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
MAX_SENTENCES = 5
REPEAT_SIMILARITY = 0.9
SYSTEM_PROMPT = (
    "You condense an assistant's long-term memories. Given related memories, write one "
    "short paragraph that keeps every distinct fact, decision, name, number and date, and "
    "drops repetition. Write only the summary."
)


class SummarizerUnavailable(StoreUnavailable):
    """The summary endpoint could not be reached or answered unusably."""

    code = "summarizer_unavailable"


class Summarizer(Protocol):
    name: str

    def summarize(self, memories: Sequence[Memory]) -> str:
        """One text covering ``memories`` (given oldest first)."""
        ...


class ExtractiveSummarizer:
    name = "extractive"

    def __init__(
        self,
        embed: Callable[[Sequence[str]], np.ndarray],
        *,
        max_sentences: int = MAX_SENTENCES,
        max_chars: int = 900,
    ) -> None:
        self.embed = embed
        self.max_sentences = max_sentences
        self.max_chars = max_chars

    def summarize(self, memories: Sequence[Memory]) -> str:
        sentences: list[str] = []
        seen: set[str] = set()
        for memory in memories:
            for sentence in _SENTENCE_END.split(memory.content):
                sentence = sentence.strip()
                if sentence and text_key(sentence) not in seen:
                    seen.add(text_key(sentence))
                    sentences.append(sentence)
        vectors = self.embed(sentences)
        centre = vectors.mean(axis=0)
        centrality = vectors @ (centre / (np.linalg.norm(centre) or 1.0))
        kept: list[int] = []
        length = 0
        for index in np.argsort(-centrality, kind="stable").tolist():
            if len(kept) == self.max_sentences:
                break
            repeats = kept and float(np.max(vectors[kept] @ vectors[index])) >= REPEAT_SIMILARITY
            if repeats or length + len(sentences[index]) > self.max_chars:
                continue
            kept.append(index)
            length += len(sentences[index]) + 1
        return " ".join(sentences[i] for i in sorted(kept))


class ChatSummarizer:
    """A chat-completions client: POST {url}/chat/completions, first choice's message."""

    def __init__(
        self, url: str, model: str, *, api_key: str | None = None, timeout: float = 120.0
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(
                f"summary URL must start with http:// or https://, got {url!r}", field="summary_url"
            )
        if not model:
            raise InvalidInput(
                "set MEMVAULT_SUMMARY_MODEL to the model the endpoint serves", field="summary_model"
            )
        base = url.rstrip("/")
        self.endpoint = base if base.endswith("/chat/completions") else base + "/chat/completions"
        self.model = model
        self.name = f"chat:{model}"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(timeout=timeout, headers=headers)

    def summarize(self, memories: Sequence[Memory]) -> str:
        listing = "\n".join(f"- [{m.created_at:%Y-%m-%d}] {m.content}" for m in memories)
        body = {
            "model": self.model,
            "temperature": 0.2,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": f"Memories:\n{listing}"},
            ],
        }
        try:
            response = self.client.post(self.endpoint, json=body)
            response.raise_for_status()
            text = response.json()["choices"][0]["message"]["content"]
        except httpx.HTTPError as exc:
            raise SummarizerUnavailable(
                f"summary endpoint {self.endpoint} failed: {exc}", field="summary_url"
            ) from exc
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise SummarizerUnavailable(
                f"summary endpoint {self.endpoint} answered without "
                f"choices[0].message.content: {exc!r}",
                field="summary_url",
            ) from exc
        if not isinstance(text, str) or not text.strip():
            raise SummarizerUnavailable(
                f"summary endpoint {self.endpoint} returned an empty summary", field="summary_url"
            )
        return text.strip()
