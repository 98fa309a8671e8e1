"""An OpenAI-compatible judge server on 127.0.0.1 for the tests: litellm reaches it over real HTTP.

Chat completions answer with a JSON document that follows the `response_format` schema of the request
(every required field filled; enums take the first value unless `answers` says otherwise), embeddings
are deterministic bag-of-words vectors (texts that share words are similar). `latency` delays every
answer; `failures` is a queue of scripted misbehaviours: an HTTP status (429, 500, ...),
"timeout" (never answers in time), or "malformed" (content that is not JSON).
"""

import hashlib
import json
import math
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EMBEDDING_DIMENSIONS = 64


def sample_instance(schema: dict, overrides: dict, key: str = ""):
    """A value following `schema`: `overrides[key]` where given, else a plain default."""
    if key in overrides:
        return overrides[key]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: sample_instance(props[name], overrides, name) for name in schema.get("required", props)}
    return {"array": [], "string": "stub", "boolean": False, "integer": 0, "number": 0.5}.get(kind)


def bag_of_words(text: str) -> list[float]:
    vector = [0.0] * EMBEDDING_DIMENSIONS
    for word in text.lower().split():
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % EMBEDDING_DIMENSIONS] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


class StubJudge:
    def __init__(self):
        self.latency = 0.0
        self.failures: deque = deque()
        self.answers: dict[str, dict] = {}  # schema name -> field overrides
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.stub = self
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def start(self) -> "StubJudge":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.latency, self.answers = 0.0, {}
            self.failures.clear()
            self.calls.clear()

    def calls_named(self, name: str) -> list[dict]:
        return [call for call in self.calls if call.get("name") == name]

    def next_failure(self):
        with self.lock:
            return self.failures.popleft() if self.failures else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # bursts of concurrent connections must not be reset


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def log_message(self, *args):
        pass

    def do_POST(self):
        stub: StubJudge = self.server.stub
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        kind = "embedding" if self.path.endswith("/embeddings") else "chat"
        schema = ((body.get("response_format") or {}).get("json_schema") or {})
        with stub.lock:
            stub.calls.append({"kind": kind, "name": schema.get("name"), "body": body})
        failure = stub.next_failure()
        time.sleep(stub.latency)
        if failure == "timeout":
            time.sleep(5)
            return
        if isinstance(failure, int):
            return self._send(failure, {"error": {"message": "stub failure", "type": "server_error"}})
        if kind == "embedding":
            return self._send(200, self._embeddings(body))
        content = "this is not JSON {" if failure == "malformed" else json.dumps(
            sample_instance(schema.get("schema") or {}, stub.answers.get(schema.get("name"), {}))
        )
        self._send(200, self._completion(body, content))

    def _completion(self, body: dict, content: str) -> dict:
        prompt = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4
        return {
            "id": "chatcmpl-stub", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "stub"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": len(content) // 4,
                      "total_tokens": prompt + len(content) // 4},
        }  # fmt: skip

    def _embeddings(self, body: dict) -> dict:
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": bag_of_words(t)} for i, t in enumerate(texts)]
        tokens = sum(len(t.split()) for t in texts)
        return {"object": "list", "data": data, "model": body.get("model"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}  # fmt: skip

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)
