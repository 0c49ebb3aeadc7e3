"""Optional LLM phrasing of explanations through an OpenAI-compatible chat endpoint.

Ollama, vLLM, llama.cpp's server and others serve `POST /v1/chat/completions`. The model receives
the structured explanation (measured values only) and the template text, and is asked to rephrase
it; the reply is kept only when `validate` finds it faithful. Otherwise — and on any timeout or
HTTP/JSON error — the template text stays and the reason goes to `Explanation.notes`. Nothing here
ever raises for a bad endpoint: explanations must not make an analysis fail.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from dataclasses import replace
from typing import Any

from ferx.types import Explanation
from ferx.explain.templates import load_templates
from ferx.explain.validate import validate

#: Largest reply read (bytes); a chat reply of ~130 words is a few kB.
MAX_REPLY_BYTES = 1_000_000

SYSTEM_PROMPT = (
    "You rewrite facial-expression explanations. Keep exactly three sections with the headings "
    "'{observations}:', '{interpretation}:' and '{conclusion}:'. Use only the facts given: mention only "
    "the action units listed as active, write each one's intensity as 'intensity <letter> (<value>)' exactly "
    "as given, and make the first emotion named in the conclusion '{label}'. About 130 words, plain prose, "
    "no lists, no markdown."
)


def chat_url(url: str) -> str:
    """The chat-completions URL for a server base URL (`http://host:11434` or `.../v1`) or the full URL."""
    url = url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    if url.endswith("/v1"):
        return url + "/chat/completions"
    return url + "/v1/chat/completions"


def facts(explanation: Explanation) -> dict[str, Any]:
    """The measured values an LLM may use (the structured explanation without its text)."""
    d = explanation.to_dict()
    for key in ("text", "text_source", "notes"):
        d.pop(key)
    return d


class LLMRewriter:
    """Rephrases explanations with a chat model; falls back to the template text.

    Args:
        url: server base URL or full chat-completions URL.
        model: model name the server expects.
        timeout: seconds for connecting and for reading the reply.
        language: template language (headings the reply must keep).
        api_key: sent as a bearer token when given (most local servers need none).
    """

    def __init__(self, url: str, *, model: str = "default", timeout: float = 30.0, language: str = "en",
                 api_key: str | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"LLM URL must start with http:// or https://, got {url!r}")
        if timeout <= 0:
            raise ValueError(f"LLM timeout must be positive, got {timeout}")
        self.url, self.model, self.timeout, self.api_key = chat_url(url), model, float(timeout), api_key
        self.templates = load_templates(language)

    def request(self, explanation: Explanation) -> str:
        """The model's reply text. Raises OSError / ValueError on transport or format problems."""
        h = self.templates["headings"]
        payload = {
            "model": self.model,
            "temperature": 0,
            "seed": 0,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT.format(label=explanation.label, **h)},
                {"role": "user", "content": "Facts (JSON):\n" + json.dumps(facts(explanation))
                 + "\n\nExplanation to rewrite:\n" + explanation.text},
            ],
        }
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.url, json.dumps(payload).encode(), headers, method="POST")
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 (user-given URL)
            body = resp.read(MAX_REPLY_BYTES + 1)
        if len(body) > MAX_REPLY_BYTES:
            raise ValueError(f"reply larger than {MAX_REPLY_BYTES} bytes")
        try:
            content = json.loads(body)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ValueError("reply is not an OpenAI-style chat completion") from None
        if not isinstance(content, str) or not content.strip():
            raise ValueError("reply has no text")
        return content.strip()

    def rewrite(self, explanation: Explanation) -> Explanation:
        """The explanation with the model's text if it is faithful, else unchanged plus a note."""
        try:
            text = self.request(explanation)
        except (OSError, ValueError, http.client.HTTPException) as e:  # URLError, HTTPError, timeouts: OSError
            reason = getattr(e, "reason", None) or e
            return replace(explanation, notes=explanation.notes + (f"LLM request failed ({self.url}): {reason}",))
        check = validate(text, explanation, templates=self.templates)
        if not check.ok:
            return replace(explanation, notes=explanation.notes + (f"LLM reply rejected: {check.summary()}",))
        return replace(explanation, text=text, text_source="llm")
