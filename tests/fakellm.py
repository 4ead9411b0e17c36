"""A scripted OpenAI-compatible provider on 127.0.0.1, standing in for a paid LLM API.

Tailor's litellm back-end talks to it over real HTTP, so timeouts, 429s, 500s
and malformed answers go through the same code as with a real provider. The
answers are deterministic functions of the prompt: the inference prompt gets
the first style change Tailor measured (so tests know what CIPHER should
learn), the aggregation prompt a combination of the listed phrases, anything
else a fixed draft.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from learners.backends.llm import Completion, Messages

#: what the provider drafts for /generate-style requests
DRAFT = "Hi team!!! 🎉 The launch moved to Friday. Thanks so much!!!"


def _between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0] if start in text else text


def scripted_answer(messages: Messages) -> str:
    prompt = messages[-1]["content"]
    # The replay simulation's LLM user: satisfied by short texts; revises by cutting.
    if "Answer only yes or no." in prompt:
        text = _between(prompt, ":\n", "\n\nIs this")
        return "Yes." if len(text.split()) <= 40 else "No."
    if "\n\nRevise this" in prompt:
        return " ".join(_between(prompt, ":\n", "\n\nRevise this").split()[:30])
    # The replay simulation's LLM drafter: shorter when asked to follow a preference.
    if "only." in prompt and ("Document:\n" in prompt or "Notes:\n" in prompt):
        source = _between(prompt, "Document:\n" if "Document:" in prompt else "Notes:\n", "\n\n")
        words = 30 if "should follow this preference" in prompt else 80
        return " ".join(source.split()[:words])
    changes = re.search(r"Changes measured on the two texts: (.*)\n", prompt)
    if changes:
        first = changes.group(1).split(";")[0]
        phrase = re.sub(r"\s*\(.*\)$", "", first).strip()
        return json.dumps({"preference": phrase})
    if "preferences were inferred" in prompt:
        items = re.findall(r"^- (.*)$", prompt, flags=re.MULTILINE)
        return json.dumps({"preference": "combined: " + " / ".join(dict.fromkeys(items))})
    return DRAFT


class ScriptedLLM:
    """The same answers in-process, behind Tailor's ``LLM`` interface (unit tests only)."""

    model = "scripted"

    def complete(
        self,
        messages: Messages,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        json_object: bool = False,
    ) -> Completion:
        return Completion(scripted_answer(messages), self.model, 10, 5)


@dataclass
class Provider:
    """Behaviour of the fake provider; tests flip ``mode`` while it runs."""

    #: ``hold``: answer only once ``release`` is set (or, as a safety limit, after ``delay``)
    mode: str = "ok"  # ok | 429 | 500 | timeout | hold | malformed | plain
    delay: float = 5.0
    #: seconds every answer takes, like a real provider's latency
    latency: float = 0.0
    calls: list[dict[str, Any]] = field(default_factory=list)
    #: answers sent so far (any status); a request is in flight from ``calls`` until then
    answered: int = 0
    #: set by the test to let ``hold`` requests be answered
    release: threading.Event = field(default_factory=threading.Event)
    #: set once a request arrived (of any mode)
    received: threading.Event = field(default_factory=threading.Event)
    #: LoRA adapters loaded at run time (vLLM's dynamic loading): name -> path
    loras: dict[str, str] = field(default_factory=dict)
    #: the LoRA API calls received: (endpoint, body)
    lora_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def in_flight(self) -> int:
        """Requests received and not answered yet."""
        return len(self.calls) - self.answered

    def answer(self, messages: Messages) -> str:
        """The content of a successful answer (subclasses script other prompts)."""
        return scripted_answer(messages)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> JSONResponse:
            try:
                return await answer(request)
            finally:
                self.answered += 1

        async def answer(request: Request) -> JSONResponse:
            body = await request.json()
            self.calls.append(body)
            self.received.set()
            unknown = self.unknown_lora(body)
            if unknown is not None:
                return unknown
            mode = self.mode
            if mode == "429":
                return JSONResponse(
                    {"error": {"message": "slow down", "type": "rate_limit_error"}},
                    status_code=429,
                )
            if mode == "500":
                return JSONResponse(
                    {"error": {"message": "upstream exploded", "type": "server_error"}},
                    status_code=500,
                )
            if mode == "timeout":
                await asyncio.sleep(self.delay)
            elif mode == "hold":
                end = asyncio.get_running_loop().time() + self.delay
                while not self.release.is_set() and asyncio.get_running_loop().time() < end:
                    await asyncio.sleep(0.01)
            elif self.latency:
                await asyncio.sleep(self.latency)
            content = self.lora_answer(body, self.answer(body["messages"]))
            if mode == "malformed":
                content = "Sure! " + content + " Hope that helps."
            elif mode == "plain" and content.startswith("{"):
                # A small local model's habit: the phrase as a labelled plain line.
                content = f'Preference: "{json.loads(content)["preference"]}"'
            return JSONResponse(
                {
                    "id": f"chatcmpl-{len(self.calls)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", "fake"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49},
                }
            )

        add_lora_routes(app, self)
        return app

    # -- vLLM's dynamic LoRA serving (--enable-lora, VLLM_ALLOW_RUNTIME_LORA_UPDATING) --

    def unknown_lora(self, body: dict[str, Any]) -> JSONResponse | None:
        """vLLM's 404 for a model name it does not serve (an adapter it forgot)."""
        model = str(body.get("model", ""))
        if model.startswith(LORA_PREFIX) and model not in self.loras:
            return JSONResponse(
                {
                    "error": {
                        "message": f"The model `{model}` does not exist.",
                        "type": "NotFoundError",
                        "code": 404,
                    }
                },
                status_code=404,
            )
        return None

    def lora_answer(self, body: dict[str, Any], content: str) -> str:
        """An adapter drafts distinctly: its name and the folder it was loaded from."""
        model = str(body.get("model", ""))
        if model in self.loras:
            return f"[{model} from {self.loras[model]}] {content}"
        return content

    def restart(self) -> None:
        """A server restart: every adapter loaded at run time is forgotten."""
        self.loras.clear()


#: the names Tailor gives adapters on the server (``learners.backends.lora.lora_name``)
LORA_PREFIX = "tailor-"


def add_lora_routes(app: FastAPI, provider: Provider) -> None:
    """``/v1/load_lora_adapter``, ``/v1/unload_lora_adapter`` and ``/v1/models`` as vLLM
    answers them (200 with a plain-text line; 400 for a name loaded twice or unknown)."""
    # PlainTextResponse is imported at module level: older FastAPI resolves the routes'
    # return annotations from the module's globals.

    @app.post("/v1/load_lora_adapter")
    async def load(request: Request) -> PlainTextResponse:
        body = await request.json()
        provider.lora_calls.append(("load", body))
        name, path = body.get("lora_name"), body.get("lora_path")
        if not name or not path:
            return PlainTextResponse("Both 'lora_name' and 'lora_path' must be provided.", 400)
        if name in provider.loras:
            return PlainTextResponse(f"The lora adapter '{name}' has already been loaded.", 400)
        provider.loras[name] = path
        return PlainTextResponse(f"Success: LoRA adapter '{name}' added successfully.")

    @app.post("/v1/unload_lora_adapter")
    async def unload(request: Request) -> PlainTextResponse:
        body = await request.json()
        provider.lora_calls.append(("unload", body))
        name = body.get("lora_name")
        if name not in provider.loras:
            return PlainTextResponse(f"The lora adapter '{name}' cannot be found.", 400)
        del provider.loras[name]
        return PlainTextResponse(f"Success: LoRA adapter '{name}' removed successfully.")

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        names = ["fake-model", *provider.loras]
        return {"object": "list", "data": [{"id": n, "object": "model"} for n in names]}


@contextmanager
def serve_provider(provider: Provider) -> Iterator[str]:
    """Run ``provider`` on 127.0.0.1 in a thread; yields its OpenAI base URL."""
    config = uvicorn.Config(provider.app(), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake provider did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        # Do not wait for requests still sleeping in "timeout" mode.
        server.should_exit = server.force_exit = True
        thread.join(10)


def main() -> None:
    """``python -m tests.fakellm --port 8765 --latency 0.5``: the provider for benchmarks."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per answer")
    args = parser.parse_args()
    app = Provider(latency=args.latency).app()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
