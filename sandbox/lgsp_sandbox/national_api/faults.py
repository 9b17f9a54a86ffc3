"""Ways a national service misbehaves, injected on demand, and the counters tests read back.

The fault layer is a plain ASGI middleware rather than a FastAPI dependency because two faults cannot be
expressed as a normal response: `malformed` rewrites a finished body, and `drop` breaks the connection halfway.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

KINDS = ("429", "503", "slow", "expire_token", "malformed", "drop")


@dataclass
class FaultRule:
    """Fire `kind` on requests whose path starts with `path`: skip the first `after`, then fire `times` times."""

    kind: str
    path: str = "/"
    after: int = 0
    times: int = 1
    retry_after: int = 1
    delay: float = 1.0
    seen: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    @classmethod
    def parse(cls, raw: object) -> FaultRule:
        """A rule from its JSON form. Raises ValueError naming the bad field."""
        if not isinstance(raw, dict):
            raise ValueError(f"a fault rule is a JSON object, got {raw!r}")
        unknown = set(raw) - {"kind", "path", "after", "times", "retry_after", "delay"}
        if unknown:
            raise ValueError(f"unknown fault rule fields: {sorted(unknown)}")
        kind = str(raw.get("kind"))
        if kind not in KINDS:
            raise ValueError(f"fault kind must be one of {list(KINDS)}, got {raw.get('kind')!r}")
        rule = cls(kind, str(raw.get("path", "/")))
        for name, low in (("after", 0), ("times", 1), ("retry_after", 0)):
            value = raw.get(name, getattr(rule, name))
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
            setattr(rule, name, value)
        delay = raw.get("delay", rule.delay)
        if not isinstance(delay, int | float) or isinstance(delay, bool) or not 0 <= delay <= 300:
            raise ValueError(f"delay must be a number of seconds between 0 and 300, got {delay!r}")
        rule.delay = float(delay)
        return rule

    def describe(self) -> dict:
        return asdict(self)


class Faults:
    """The active rules; each counts its own matching requests."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def set(self, payload: object) -> list[FaultRule]:
        """Replace the rules with a JSON list of rules (one object is taken as a list of one)."""
        items = payload if isinstance(payload, list) else [payload]
        self.rules = [FaultRule.parse(item) for item in items]
        return self.rules

    def clear(self) -> None:
        self.rules = []

    def match(self, path: str) -> FaultRule | None:
        """The first rule due for this request, after every matching rule has counted it."""
        due = None
        for rule in self.rules:
            if not path.startswith(rule.path):
                continue
            rule.seen += 1
            if due is None and rule.seen > rule.after and rule.fired < rule.times:
                due = rule
        if due is not None:
            due.fired += 1
        return due


class Stats:
    """Requests per path and status, tokens issued and faults fired, since start or the last reset."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.tokens_issued = 0
        self.faults_fired: Counter[str] = Counter()
        self.started = time.monotonic()

    def record(self, path: str, status: int | str) -> None:
        self.requests[path][str(status)] += 1

    def as_dict(self) -> dict:
        return {
            "requests": {path: dict(counts) for path, counts in sorted(self.requests.items())},
            "requests_total": sum(sum(c.values()) for c in self.requests.values()),
            "tokens_issued": self.tokens_issued,
            "faults_fired": dict(self.faults_fired),
            "seconds": round(time.monotonic() - self.started, 3),
        }


class RateLimiter:
    """A token bucket per client: `rate` requests per second, bursts of up to max(1, rate)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.buckets: dict[str, tuple[float, float]] = {}

    def retry_after(self, client: str) -> int | None:
        """None if the request may go ahead (and is counted), else whole seconds to wait."""
        if self.rate is None:
            return None
        now, burst = time.monotonic(), max(1.0, self.rate)
        tokens, last = self.buckets.get(client, (burst, now))
        tokens = min(burst, tokens + (now - last) * self.rate)
        if tokens >= 1:
            self.buckets[client] = (tokens - 1, now)
            return None
        self.buckets[client] = (tokens, now)
        return max(1, math.ceil((1 - tokens) / self.rate))


async def send_json(send: Send, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
    content = orjson.dumps(body)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})


class FaultMiddleware:
    """Counts every data request and applies the fault due for it; /_admin requests pass untouched and uncounted."""

    def __init__(self, app: Callable, faults: Faults, stats: Stats, expire_tokens: Callable[[], None]) -> None:
        self.app, self.faults, self.stats, self.expire_tokens = app, faults, stats, expire_tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_admin"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.stats.record(path, message["status"])
            await send(message)

        rule = self.faults.match(path)
        if rule is None:
            await self.app(scope, receive, counted)
            return
        self.stats.faults_fired[rule.kind] += 1
        if rule.kind in ("429", "503"):
            error = "rate_limited" if rule.kind == "429" else "service_unavailable"
            detail = {"error": error, "detail": "injected fault: try again after Retry-After seconds"}
            await send_json(counted, int(rule.kind), detail, {"Retry-After": str(rule.retry_after)})
        elif rule.kind == "slow":
            await asyncio.sleep(rule.delay)
            await self.app(scope, receive, counted)
        elif rule.kind == "expire_token":
            self.expire_tokens()
            await self.app(scope, receive, counted)
        elif rule.kind == "malformed":
            await self._malformed(scope, receive, counted)
        else:
            await self._drop(path, send)

    async def _malformed(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A 200 whose JSON body is cut in half: what a gateway timeout mid-stream looks like to a client."""
        parts: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.body":
                parts.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(parts)
        body = body[: max(1, len(body) // 2)]
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _drop(self, path: str, send: Send) -> None:
        """Promise a body, send a fragment and return: uvicorn then closes the socket mid-response."""
        self.stats.record(path, "dropped")
        headers = [(b"content-type", b"application/json"), (b"content-length", b"65536")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"data": [{"tax_code": "32', "more_body": True})
