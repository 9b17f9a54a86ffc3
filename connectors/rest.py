"""REST connector: national systems and other JSON APIs, paged, throttled and retried politely.

The contract says where the records are and how to page; the connection (LGSP_CONN_<NAME> or an
Airflow Connection) holds the base URL and the secrets: for OAuth2 client credentials the login
and password are the client id and secret, for an API key the password is the key.

A run either gets every page or fails: 429 and 503 answers are retried after their Retry-After,
other transient faults (5xx, timeouts, dropped connections, a malformed page) with exponential
backoff and jitter; an expired token is replaced once per 401. Records are flattened to the
contract's columns by their dotted source paths; fields the contract does not know, and fields
it expects that are missing, are counted and handled by the contract's `schema_drift` policy.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import queue
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import orjson
import pyarrow as pa
import requests
from pydantic import BaseModel, ConfigDict, SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from connectors.errors import ConnectorError
from connectors.registry import register
from lgsp.connections import resolve
from lgsp.settings import Settings
from schemas.contract import AuthType, Contract, PagingStyle, RestSource, SchemaDrift
from warehouse.projection import EXTRA

MAX_RETRY_AFTER = 300.0  # seconds: a server asking for longer is treated as down
_MISSING = object()


class RestConfig(BaseModel):
    """What the REST connector needs: built from a contract and a resolved connection."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    dataset: str
    connection: str
    base_url: str
    login: str | None = None
    secret: SecretStr | None = None
    source: RestSource
    columns: list[tuple[str, str]]  # (column, dotted source path)
    batch_rows: int = 50_000
    backoff: float = 0.5  # first retry wait in seconds, doubling up to `backoff_max`
    backoff_max: float = 30.0


def split_connection(url: str) -> tuple[str, str | None, str | None]:
    """(base URL without credentials, login, password) of a connection URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"a REST connection must be an http(s) URL, not '{parts.scheme}:'")
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    login = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), parts.query, "")), login, password


def configure(contract: Contract, settings: Settings) -> RestConfig:
    source = contract.source
    assert isinstance(source, RestSource)
    url = resolve(source.connection, settings.sandbox_dir).get_secret_value()
    try:
        base, login, password = split_connection(url)
    except ValueError as exc:
        raise ConnectorError(str(exc), dataset=contract.id, connector=source.connection) from None
    return RestConfig(
        dataset=contract.id,
        connection=source.connection,
        base_url=base,
        login=login,
        secret=SecretStr(password) if password else None,
        source=source,
        columns=[(c.name, c.source or c.name) for c in contract.columns],
        batch_rows=min(settings.batch_rows, 50_000),
    )


# -- HTTP: auth, throttling, retries ---------------------------------------------------------------


class _Retryable(Exception):
    """A failure worth retrying; `retry_after` is the server's own wait, when it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


@dataclass
class _Throttle:
    """Client-side rate limit: at most `rate` requests per second, evenly spaced."""

    rate: float | None
    _next: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self) -> None:
        if not self.rate:
            return
        with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + 1.0 / self.rate
        if delay > 0:
            time.sleep(delay)


class Client:
    """One API session: keeps the connection alive, the token cached and the pace polite."""

    def __init__(self, config: RestConfig) -> None:
        self.config = config
        self.source = config.source
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": "lgsp-hub"})
        self.throttle = _Throttle(self.source.rate_limit)
        self._token: str | None = None
        self._token_expires = 0.0
        self.requests = 0
        self.retries = 0
        self.tokens = 0

    def _error(self, message: str, transient: bool = False) -> ConnectorError:
        return ConnectorError(
            message, dataset=self.config.dataset, connector=self.config.connection, transient=transient
        )

    # auth
    def _fetch_token(self) -> None:
        auth = self.source.auth
        if not self.config.login or not self.config.secret:
            raise self._error("OAuth2 needs a client id and secret: give them as the connection's login and password")
        data = {"grant_type": "client_credentials"}
        if auth.scope:
            data["scope"] = auth.scope
        url = self.config.base_url + auth.token_path
        self.throttle.wait()
        try:
            response = self.session.post(
                url,
                data=data,
                auth=(self.config.login, self.config.secret.get_secret_value()),
                timeout=self.source.timeout,
            )
        except requests.RequestException as exc:
            raise _Retryable(f"token request failed: {type(exc).__name__}") from exc
        if response.status_code in (429, 503) or response.status_code >= 500:
            raise _Retryable(f"token endpoint answered {response.status_code}", _retry_after(response))
        if response.status_code != 200:
            raise self._error(
                f"the token endpoint {auth.token_path} refused the client credentials "
                f"({response.status_code}: {response.text[:200]})"
            )
        try:
            body = orjson.loads(response.content)
            token = body["access_token"]
            lifetime = float(body.get("expires_in") or 3600)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise _Retryable(f"malformed token response: {exc}") from exc
        self._token = token
        # Refresh before expiry: a token must not run out between our check and the server's.
        self._token_expires = time.monotonic() + lifetime - min(60.0, lifetime / 10)
        self.tokens += 1

    def _auth_headers(self) -> dict[str, str]:
        auth = self.source.auth
        if auth.type is AuthType.oauth2:
            if self._token is None or time.monotonic() >= self._token_expires:
                self._fetch_token()
            return {"Authorization": f"Bearer {self._token}"}
        if auth.type is AuthType.api_key:
            if not self.config.secret:
                raise self._error("API-key auth needs the key as the connection's password")
            return {auth.header: self.config.secret.get_secret_value()}
        return {}

    # one request, no retries
    def _once(self, url: str, params: dict[str, Any] | None) -> tuple[Any, requests.Response]:
        for attempt in (1, 2):
            headers = self._auth_headers()
            self.throttle.wait()
            self.requests += 1
            try:
                response = self.session.get(url, params=params, headers=headers, timeout=self.source.timeout)
                content = response.content
            except requests.RequestException as exc:
                raise _Retryable(f"{type(exc).__name__}: {str(exc)[:200]}") from exc
            if response.status_code == 401 and self.source.auth.type is AuthType.oauth2 and attempt == 1:
                self._token = None  # expired or revoked early: one new token, then the request again
                continue
            break
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retryable(f"{status} {response.reason}", _retry_after(response))
        if status in (401, 403):
            raise self._error(f"the API refused access to {urlsplit(url).path} ({status}: {response.text[:200]})")
        if status >= 400:
            raise self._error(f"GET {urlsplit(url).path} answered {status}: {response.text[:300]}")
        try:
            return orjson.loads(content), response
        except orjson.JSONDecodeError as exc:
            raise _Retryable(f"malformed JSON in the response ({exc})") from exc

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        backoff = wait_exponential_jitter(
            initial=self.config.backoff, max=self.config.backoff_max, jitter=self.config.backoff
        )
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, MAX_RETRY_AFTER)
        return backoff(state)

    def get(self, url: str, params: dict[str, Any] | None = None) -> tuple[Any, requests.Response]:
        """GET with retries; raises ConnectorError once they are spent (nothing is published then)."""
        attempts = self.source.retries + 1
        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, _Retryable)),
            stop=stop_after_attempt(attempts),
            wait=self._wait,
            before_sleep=lambda _: self._count_retry(),
            reraise=True,
        )
        try:
            return retrying(self._once, url, params)
        except _Retryable as exc:
            shown = urlsplit(url).path + (f"?{'&'.join(f'{k}={v}' for k, v in params.items())}" if params else "")
            raise self._error(f"GET {shown} failed after {attempts} attempts: {exc}", transient=True) from None

    def _count_retry(self) -> None:
        self.retries += 1

    def close(self) -> None:
        self.session.close()


# -- paging ----------------------------------------------------------------------------------------


def _dig(body: Any, path: str) -> Any:
    for part in path.split(".") if path else []:
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


def _iso(cursor: str) -> str:
    """The warehouse's cursor text (UTC, '2026-01-02 03:04:05') as ISO 8601 for an API."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?", cursor):
        return cursor.replace(" ", "T") + "Z"
    return cursor


def pages(client: Client, state: dict[str, Any] | None) -> Iterator[list[dict[str, Any]]]:
    """The record lists of every page, in order, whatever the paging style."""
    source = client.source
    paging = source.paging
    url = client.config.base_url + source.path
    params: dict[str, Any] = dict(source.params)
    if source.updated_since and state and state.get("cursor"):
        params[source.updated_since] = _iso(str(state["cursor"]))
    size = paging.page_size
    style = paging.style
    if style is PagingStyle.page:
        params[paging.page_param], params[paging.size_param] = paging.first_page, size
    elif style is PagingStyle.offset:
        params[paging.offset_param], params[paging.limit_param] = 0, size
    elif style in (PagingStyle.cursor, PagingStyle.link):
        params[paging.limit_param] = size
    next_url: str | None = url
    while next_url:
        body, response = client.get(next_url, params)
        records = body if not source.records else _dig(body, source.records)
        if not isinstance(records, list):
            raise client._error(f"the response has no record list at '{source.records or '(body)'}'")
        if records:
            yield records
        if style is PagingStyle.none:
            return
        if style is PagingStyle.link:
            next_url, params = response.links.get("next", {}).get("url"), None
        elif style is PagingStyle.cursor:
            token = _dig(body, paging.next_cursor)
            if not token:
                return
            params = {**params, paging.cursor_param: token}
        elif len(records) < size:
            return
        elif style is PagingStyle.page:
            params = {**params, paging.page_param: params[paging.page_param] + 1}
        else:
            params = {**params, paging.offset_param: params[paging.offset_param] + len(records)}


def _prefetched(iterator: Iterator[list[dict[str, Any]]], depth: int = 2) -> Iterator[list[dict[str, Any]]]:
    """Fetch the next pages in a thread while this one is flattened: the wait for the server
    overlaps our own work instead of adding to it."""
    box: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for page in iterator:
                while not stop.is_set():
                    try:
                        box.put(("page", page), timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(("end", None))
        except BaseException as exc:
            box.put(("error", exc))

    thread = threading.Thread(target=fetch, name="lgsp-rest-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = box.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


# -- flattening and schema drift -------------------------------------------------------------------


def _tree(paths: list[str]) -> dict[str, Any]:
    """Nested dict of the declared paths: {'address': {'ward_code': {}}, 'name': {}}."""
    root: dict[str, Any] = {}
    for path in paths:
        node = root
        for part in path.split("."):
            node = node.setdefault(part, {})
    return root


class Drift:
    """Fields seen that the contract does not declare, and declared fields absent from records."""

    def __init__(self) -> None:
        self.unknown: dict[str, int] = {}
        self.missing: dict[str, int] = {}
        self.first_record: dict[str, int] = {}

    def note(self, kind: dict[str, int], path: str, count: int, first: int) -> None:
        kind[path] = kind.get(path, 0) + count
        self.first_record.setdefault(path, first)

    def as_notes(self) -> dict[str, Any]:
        return {
            "unknown_fields": {
                p: {"records": n, "first_record": self.first_record[p]} for p, n in sorted(self.unknown.items())
            },
            "missing_fields": {
                p: {"records": n, "first_record": self.first_record[p]} for p, n in sorted(self.missing.items())
            },
        }


def _strings(values: list[Any]) -> pa.Array:
    """Values as an Arrow string array; numbers and booleans as their JSON text, objects as JSON."""
    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    if any(isinstance(v, bool) for v in values):  # Arrow would read True as 1 beside numbers
        return pa.array(
            [None if v is None else v if isinstance(v, str) else orjson.dumps(v).decode() for v in values],
            type=pa.string(),
        )
    try:
        inferred = pa.array(values)
        if pa.types.is_integer(inferred.type) or pa.types.is_floating(inferred.type):
            return inferred.cast(pa.string())
        if pa.types.is_boolean(inferred.type):
            return pa.array([None if v is None else ("true" if v else "false") for v in values], type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    return pa.array(
        [None if v is None else v if isinstance(v, str) else orjson.dumps(v).decode() for v in values],
        type=pa.string(),
    )


class Flattener:
    """Turns record lists into Arrow batches of the contract's columns (as text; staging types them)."""

    def __init__(self, config: RestConfig, policy: SchemaDrift) -> None:
        self.columns = config.columns
        self.tree = _tree([path for _, path in self.columns])
        self.policy = policy
        self.drift = Drift()
        self.seen = 0
        names = [name for name, _ in self.columns] + ([EXTRA] if policy is SchemaDrift.evolve else [])
        self.schema = pa.schema([(n, pa.string()) for n in names])

    def _walk(
        self,
        records: list[Any],
        node: dict[str, Any],
        prefix: str,
        leaves: dict[str, list[Any]],
        extras: list[dict[str, Any]] | None,
    ) -> None:
        """Collect the declared leaves of `records` (objects, or None where a parent was null)."""
        dicts = [r for r in records if isinstance(r, dict)]
        seen_keys = set().union(*map(dict.keys, dicts)) if dicts else set()
        for key in sorted(seen_keys - node.keys()):
            path = prefix + key
            hits = [i for i, r in enumerate(records) if isinstance(r, dict) and key in r]
            self.drift.note(self.drift.unknown, path, len(hits), self.seen + hits[0])
            if extras is not None:
                for i in hits:
                    extras[i][path] = records[i][key]
        for key, children in node.items():
            path = prefix + key
            # A null parent object is not a drift of each of its fields; an absent key is.
            values = [r.get(key, _MISSING) if isinstance(r, dict) else None for r in records]
            absent = values.count(_MISSING)
            if absent:
                first = next(i for i, v in enumerate(values) if v is _MISSING)
                self.drift.note(self.drift.missing, path, absent, self.seen + first)
                values = [None if v is _MISSING else v for v in values]
            if children:
                self._walk(values, children, path + ".", leaves, extras)
            else:
                leaves[path] = values

    def batch(self, records: list[dict[str, Any]]) -> pa.RecordBatch:
        before = len(self.drift.unknown) + len(self.drift.missing)
        extras: list[dict[str, Any]] | None = [{} for _ in records] if self.policy is SchemaDrift.evolve else None
        leaves: dict[str, list[Any]] = {}
        self._walk(records, self.tree, "", leaves, extras)
        if self.policy is SchemaDrift.freeze and len(self.drift.unknown) + len(self.drift.missing) > before:
            notes = self.drift.as_notes()
            found = [
                f"undeclared field '{p}' (record {v['first_record'] + 1})" for p, v in notes["unknown_fields"].items()
            ]
            found += [
                f"missing field '{p}' (record {v['first_record'] + 1})" for p, v in notes["missing_fields"].items()
            ]
            raise ConnectorError(
                "the source's fields differ from the contract and its schema_drift policy is freeze: "
                + "; ".join(found)
                + ". Declare the fields (or set schema_drift: evolve or discard)."
            )
        arrays = [_strings(leaves[path]) for _, path in self.columns]
        if extras is not None:
            arrays.append(pa.array([orjson.dumps(e).decode() if e else None for e in extras], type=pa.string()))
        self.seen += len(records)
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


@register("rest", configure=configure)
def extract(config: RestConfig, state: dict[str, Any] | None, notes: dict[str, Any]) -> pa.RecordBatchReader:
    """Stream every record of the endpoint (or those updated since the cursor in `state`).

    `notes` receives, once the stream is read: requests, retries, tokens, and the schema drift.
    """
    client = Client(config)
    flattener = Flattener(config, config.source.schema_drift)

    def batches() -> Iterator[pa.RecordBatch]:
        pending: list[dict[str, Any]] = []
        try:
            for records in _prefetched(pages(client, state)):
                pending.extend(records)
                if len(pending) >= config.batch_rows:
                    yield flattener.batch(pending)
                    pending = []
            if pending:
                yield flattener.batch(pending)
        except ConnectorError as exc:
            exc.dataset, exc.connector = config.dataset, config.connection
            raise
        finally:
            client.close()
            drift = flattener.drift.as_notes()
            notes.update(
                requests=client.requests,
                retries=client.retries,
                tokens=client.tokens,
                records=flattener.seen,
                schema_drift={"policy": config.source.schema_drift.value, **drift},
            )

    return pa.RecordBatchReader.from_batches(flattener.schema, batches())
