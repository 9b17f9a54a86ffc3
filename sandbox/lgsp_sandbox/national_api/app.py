"""The HTTP face of the simulated national services: OAuth2 token, three paged collections, an admin API.

Every collection answers page (?page&page_size), offset (?offset&limit) and cursor (?cursor&limit) paging at
once, with a Link rel="next" header, so a client can use whichever style the real service it stands for uses.
Bodies are encoded with orjson straight into a Response: at a thousand records a page, encoding is the cost.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qs, unquote

import orjson
from fastapi import FastAPI, Request, Response

from lgsp_sandbox.national_api import SimulatorConfig
from lgsp_sandbox.national_api.data import Enterprises, Slice, Table, build_documents, build_units, epoch, iso
from lgsp_sandbox.national_api.errors import JSON, ApiError
from lgsp_sandbox.national_api.faults import FaultMiddleware, Faults, RateLimiter, Stats
from lgsp_sandbox.national_api.reporting import reporting_router

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def bad_request(detail: str) -> ApiError:
    return ApiError(400, "invalid_parameter", detail)


class Tokens:
    """OAuth2 access tokens in memory; `expire_all` is what the expire_token fault pulls."""

    def __init__(self, ttl: int) -> None:
        self.ttl = ttl
        self.live: dict[str, tuple[str, float]] = {}

    def issue(self, client_id: str) -> str:
        token = secrets.token_urlsafe(24)
        self.live[token] = (client_id, time.monotonic() + self.ttl)
        return token

    def client(self, token: str) -> str | None:
        """The client a live token was issued to, or None once it expired or was never issued."""
        entry = self.live.get(token)
        if entry is None or entry[1] <= time.monotonic():
            self.live.pop(token, None)
            return None
        return entry[0]

    def expire_all(self) -> None:
        self.live.clear()


@dataclass(frozen=True)
class Paging:
    """What a list request asked for: the paging style, page size and position, and the updated_since filter."""

    style: str
    size: int
    page: int | None
    offset: int | None
    after: tuple[str, Hashable] | None
    since: str | None

    @property
    def skip(self) -> int:
        return self.offset or 0


def _integer(params: dict[str, str], name: str, low: int, high: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise bad_request(f"{name} must be {bound}, got {value}")
    return value


def encode_cursor(collection: str, key: tuple[str, Hashable]) -> str:
    """An opaque keyset cursor: the (updated_at, key) of the last record served, tagged with its collection."""
    return base64.urlsafe_b64encode(orjson.dumps([collection, *key])).decode().rstrip("=")


def decode_cursor(collection: str, text: str, key_type: type) -> tuple[str, Hashable]:
    """The (updated_at, key) inside a cursor. Raises ApiError (400) for a forged or foreign cursor."""
    try:
        tag, updated_at, key = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        epoch(updated_at)
    except (ValueError, TypeError, AttributeError, binascii.Error):
        raise bad_request(f"cursor {text[:40]!r} is not one this service issued") from None
    key = tuple(key) if isinstance(key, list) else key
    if (
        tag != collection
        or not isinstance(key, key_type)
        or (isinstance(key, tuple) and not all(isinstance(k, str) for k in key))
    ):
        raise bad_request("cursor belongs to another collection")
    return updated_at, key


def parse_paging(params: dict[str, str], collection: str, key_type: type) -> Paging:
    """Read page/page_size, offset/limit, cursor/limit and updated_since. Raises ApiError (400) on bad values."""
    page = _integer(params, "page", 1)
    offset = _integer(params, "offset", 0)
    page_size = _integer(params, "page_size", 1, MAX_PAGE_SIZE)
    limit = _integer(params, "limit", 1, MAX_PAGE_SIZE)
    cursor = params.get("cursor")
    if page_size is not None and limit is not None and page_size != limit:
        raise bad_request("give page_size or limit, not two different sizes")
    if cursor is not None and (page is not None or offset is not None):
        raise bad_request("cursor cannot be combined with page or offset")
    if page is not None and offset is not None:
        raise bad_request("page and offset are two paging styles; use one")
    size = page_size or limit or DEFAULT_PAGE_SIZE
    since = params.get("updated_since")
    if since is not None:
        try:
            since = iso(max(epoch(since), 0))  # nothing predates 1970; keeps the text form four-digit years
        except (ValueError, OverflowError, OSError):
            raise bad_request(f"updated_since must be an ISO 8601 timestamp, got {since!r}") from None
    after = decode_cursor(collection, cursor, key_type) if cursor else None
    if cursor is not None:
        return Paging("cursor", size, None, None, after, since)
    if page is not None or (page_size is not None and offset is None):
        page = page or 1
        return Paging("page", size, page, (page - 1) * size, None, since)
    if offset is not None:
        return Paging("offset", size, None, offset, None, since)
    return Paging("cursor", size, None, None, None, since)


def page_response(request: Request, paging: Paging, found: Slice, collection: str) -> Response:
    """The common body and the Link header to the next page, in the style the request used."""
    next_cursor = encode_cursor(collection, found.last_key) if found.has_more and found.last_key else None
    body = {
        "data": found.records,
        "total": found.total,
        "page": paging.page,
        "page_size": paging.size,
        "offset": paging.offset,
        "next_cursor": next_cursor,
    }
    headers = {}
    if next_cursor is not None:
        if paging.style == "page":
            url = request.url.include_query_params(page=(paging.page or 1) + 1, page_size=paging.size)
        elif paging.style == "offset":
            url = request.url.include_query_params(offset=paging.skip + paging.size, limit=paging.size)
        else:
            url = request.url.include_query_params(cursor=next_cursor, limit=paging.size)
        headers["Link"] = f'<{url}>; rel="next"'
    return Response(orjson.dumps(body), media_type=JSON, headers=headers)


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that also accepts non-ASCII input (compare_digest refuses non-ASCII str)."""
    return secrets.compare_digest(given.encode(), expected.encode())


def _unit_key(unit: dict) -> tuple[str, str]:
    return (unit["era"], unit["code"])


def create_app(config: SimulatorConfig) -> FastAPI:
    """The simulator for one configuration; data is built here, once, so requests only page through it."""
    units = build_units()
    province_wards = [u for u in units if u["era"] == "2025" and u["level"] == "ward"]
    province_wards = [u for u in province_wards if u["province"]["code"] == config.province_code]
    if not province_wards:
        raise ValueError(f"no current wards for province_code {config.province_code!r}")
    register = Enterprises(config.enterprises, config.seed, province_wards)
    documents = Table(build_documents(config.seed, config.documents), key=lambda d: d["id"])
    tokens, limiter, faults, stats = Tokens(config.token_ttl), RateLimiter(config.rate_limit), Faults(), Stats()

    @lru_cache(maxsize=256)
    def unit_table(province_code: str | None, era: str | None, level: str | None) -> Table:
        chosen = [
            u
            for u in units
            if (province_code is None or u["province"]["code"] == province_code)
            and (era is None or u["era"] == era)
            and (level is None or u["level"] == level)
        ]
        return Table(chosen, key=_unit_key)

    app = FastAPI(title="National services simulator (NDXP/LGSP sandbox)", version="1")
    app.add_middleware(FaultMiddleware, faults=faults, stats=stats, expire_tokens=tokens.expire_all)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> Response:
        body = orjson.dumps({"error": error.error, "detail": error.detail})
        return Response(body, status_code=error.status, media_type=JSON, headers=error.headers)

    def throttle(client: str) -> None:
        wait = limiter.retry_after(client)
        if wait is not None:
            detail = f"more than {config.rate_limit} requests per second from {client}"
            raise ApiError(429, "rate_limited", detail, {"Retry-After": str(wait)})

    def bearer(request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            detail = "this service needs Authorization: Bearer <token> from POST /oauth2/token"
            raise ApiError(401, "unauthorized", detail, {"WWW-Authenticate": 'Bearer realm="ndxp"'})
        client = tokens.client(token.strip())
        if client is None:
            challenge = 'Bearer error="invalid_token", error_description="The access token expired or is unknown"'
            detail = "the access token expired or is unknown; fetch a new one"
            raise ApiError(401, "invalid_token", detail, {"WWW-Authenticate": challenge})
        throttle(client)
        return client

    def api_key(request: Request) -> None:
        if not _same(request.headers.get("x-api-key", ""), config.api_key.get_secret_value()):
            raise ApiError(401, "invalid_api_key", "this service needs a valid X-API-Key header")
        throttle("api-key")

    @app.post("/oauth2/token")
    async def token(request: Request) -> Response:
        """OAuth2 client-credentials grant; the client authenticates with HTTP Basic or form fields."""
        form = {k: v[-1] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded).decode().partition(":")
            except (ValueError, binascii.Error):
                raise ApiError(400, "invalid_request", "malformed Basic authorization header") from None
            client_id, secret = unquote(user), unquote(password)
        if form.get("grant_type") != "client_credentials":
            raise ApiError(400, "unsupported_grant_type", "only grant_type=client_credentials is supported")
        known = _same(client_id, config.client_id)
        if not (_same(secret, config.client_secret.get_secret_value()) and known):
            raise ApiError(401, "invalid_client", "unknown client or wrong secret", {"WWW-Authenticate": "Basic"})
        stats.tokens_issued += 1
        body = {"access_token": tokens.issue(client_id), "token_type": "Bearer", "expires_in": config.token_ttl}
        return Response(orjson.dumps(body), media_type=JSON, headers={"Cache-Control": "no-store"})

    @app.get("/dvhc/v1/units")
    async def list_units(request: Request) -> Response:
        """The national administrative-units catalogue: current (era 2025) and pre-merger (era legacy) units."""
        bearer(request)
        params = dict(request.query_params)
        era, level = params.get("era"), params.get("level")
        if era not in (None, "2025", "legacy"):
            raise bad_request(f"era must be 2025 or legacy, got {era!r}")
        if level not in (None, "province", "district", "ward"):
            raise bad_request(f"level must be province, district or ward, got {level!r}")
        paging = parse_paging(params, "units", tuple)
        table = unit_table(params.get("province_code"), era, level)
        found = table.select(paging.since, paging.after, paging.skip, paging.size)
        return page_response(request, paging, found, "units")

    @app.get("/dkkd/v1/enterprises")
    async def list_enterprises(request: Request) -> Response:
        """The province's enterprises in the national business register, by (updated_at, tax_code)."""
        bearer(request)
        paging = parse_paging(dict(request.query_params), "enterprises", str)
        found = register.select(paging.since, paging.after, paging.skip, paging.size)
        return page_response(request, paging, found, "enterprises")

    @app.get("/vbpl/v1/documents")
    async def list_documents(request: Request) -> Response:
        """The national legal-documents database: laws, decrees, circulars and provincial normative documents."""
        api_key(request)
        paging = parse_paging(dict(request.query_params), "documents", int)
        found = documents.select(paging.since, paging.after, paging.skip, paging.size)
        return page_response(request, paging, found, "documents")

    app.include_router(reporting_router(bearer, config.reporting_deadline))
    admin = _admin_routes(faults, stats, register, config)
    for method, path, handler in admin:
        app.add_api_route(path, handler, methods=[method], include_in_schema=False)
    return app


def _admin_routes(faults: Faults, stats: Stats, register: Enterprises, config: SimulatorConfig) -> list[tuple]:
    """Loopback-only controls for tests: fault rules, counters, and the clock of the business register."""

    def loopback(handler: Callable) -> Callable:
        async def guarded(request: Request) -> Response:
            if request.client is None or request.client.host not in LOOPBACK:
                raise ApiError(403, "forbidden", "the admin API answers loopback clients only")
            try:
                result = await handler(request)
            except ValueError as error:
                raise ApiError(400, "invalid_request", str(error)) from None
            return Response(orjson.dumps(result), media_type=JSON)

        guarded.__name__ = handler.__name__
        return guarded

    async def json_body(request: Request) -> object:
        try:
            return orjson.loads(await request.body() or b"null")
        except orjson.JSONDecodeError as error:
            raise ValueError(f"body is not JSON: {error}") from None

    async def set_faults(request: Request) -> dict:
        return {"rules": [r.describe() for r in faults.set(await json_body(request))]}

    async def clear_faults(request: Request) -> dict:
        faults.clear()
        return {"rules": []}

    async def get_faults(request: Request) -> dict:
        return {"rules": [r.describe() for r in faults.rules]}

    async def get_stats(request: Request) -> dict:
        body = stats.as_dict()
        body["faults"] = [r.describe() for r in faults.rules]
        body.update(clock=iso(register.clock), enterprises=register.total, seed=config.seed)
        return body

    async def reset_stats(request: Request) -> dict:
        stats.reset()
        return await get_stats(request)

    async def advance(request: Request) -> dict:
        body = await json_body(request) or {}
        if not isinstance(body, dict):
            raise ValueError('body must be an object like {"updated": 10, "new": 5, "seconds": 86400}')
        values = {name: body.get(name, default) for name, default in (("updated", 0), ("new", 0), ("seconds", 86_400))}
        for name, value in values.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        return register.advance(values["updated"], values["new"], max(1, values["seconds"]))

    return [
        ("POST", "/_admin/faults", loopback(set_faults)),
        ("DELETE", "/_admin/faults", loopback(clear_faults)),
        ("GET", "/_admin/faults", loopback(get_faults)),
        ("GET", "/_admin/stats", loopback(get_stats)),
        ("DELETE", "/_admin/stats", loopback(reset_stats)),
        ("POST", "/_admin/advance", loopback(advance)),
    ]
