"""An OpenAI-compatible chat server on 127.0.0.1 that replays scripted completions.

``POST /v1/chat/completions`` answers with the next scripted reply, as one JSON completion or,
with ``"stream": true``, as server-sent ``chat.completion.chunk`` events ending in ``[DONE]``.
A reply can be delayed (for timeouts), be an HTTP error, or call tools (OpenAI's
``tool_calls``, for agents). Every request body is recorded,
so tests can assert what the prompt contained, or that no request came at all.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    content: str = ""
    status: int = 200
    delay: float = 0.0  # seconds before anything is sent
    chunk_delay: float = 0.0  # seconds between streamed words
    hold: threading.Event | None = None  # when given, nothing is sent until it is set
    # OpenAI-shaped calls, e.g. {"id": "call_1", "type": "function", "function": {"name": ..., "arguments": "{...}"}}
    tool_calls: list[dict[str, Any]] | None = None


@dataclass
class LLMServer:
    replies: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                server._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> LLMServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def script(self, *replies: Reply | str) -> None:
        self.replies.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = json.loads(request.rfile.read(length) or b"{}")
        if not request.path.endswith("/chat/completions"):
            return self._json(request, 404, {"error": {"message": "not found"}})
        self.requests.append(body)
        reply = self.replies.pop(0) if self.replies else Reply("no scripted reply left", status=500)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.hold is not None:  # a model that does not answer until the test lets it
            reply.hold.wait(60)
        if reply.status != 200:
            return self._json(request, reply.status, {"error": {"message": reply.content, "type": "server_error"}})
        created = int(time.time())
        if reply.tool_calls:
            return self._tool_calls(request, body, reply.tool_calls, created)
        if not body.get("stream"):
            return self._json(
                request,
                200,
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": created,
                    "model": body.get("model"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply.content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                },
            )
        request.send_response(200)
        request.send_header("Content-Type", "text/event-stream")
        request.send_header("Connection", "close")
        request.end_headers()
        words = reply.content.split(" ")
        pieces = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
        for i, piece in enumerate([*pieces, None]):
            delta = {"content": piece} if piece is not None else {}
            if i == 0:
                delta["role"] = "assistant"
            chunk = {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "created": created,
                "model": body.get("model"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": None if piece is not None else "stop"}],
            }
            request.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            request.wfile.flush()
            if reply.chunk_delay:
                time.sleep(reply.chunk_delay)
        request.wfile.write(b"data: [DONE]\n\n")
        request.wfile.flush()
        request.close_connection = True

    def _tool_calls(
        self, request: BaseHTTPRequestHandler, body: dict[str, Any], calls: list[dict[str, Any]], created: int
    ) -> None:
        """A reply that calls tools: one message, or one chunk with all the calls and a closing chunk."""
        head = {"id": "chatcmpl-test", "created": created, "model": body.get("model")}
        if not body.get("stream"):
            message = {"role": "assistant", "content": None, "tool_calls": calls}
            choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
            return self._json(request, 200, {**head, "object": "chat.completion", "choices": [choice]})
        request.send_response(200)
        request.send_header("Content-Type", "text/event-stream")
        request.send_header("Connection", "close")
        request.end_headers()
        deltas = [
            {"role": "assistant", "tool_calls": [{"index": i, **call} for i, call in enumerate(calls)]},
            {},
        ]
        for delta, finish in zip(deltas, (None, "tool_calls")):
            chunk = {
                **head,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            request.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        request.wfile.write(b"data: [DONE]\n\n")
        request.wfile.flush()
        request.close_connection = True

    @staticmethod
    def _json(request: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
