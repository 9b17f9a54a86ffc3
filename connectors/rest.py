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
import re
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import repeat
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import duckdb
import orjson
import pyarrow as pa
import requests
from pydantic import BaseModel, ConfigDict, SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from lgsp.connectors.errors import ConnectorError
from lgsp.connectors.registry import register
from lgsp.core import duck
from lgsp.core.connections import resolve
from lgsp.core.priority import lower_thread_priority
from lgsp.core.settings import Settings
from lgsp.schemas.contract import AuthType, Contract, PagingStyle, RestSource, SchemaDrift
from lgsp.warehouse.projection import EXTRA

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
    memory_limit: str = "1GB"


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
    # The query of a connection URL (Airflow puts a Connection's extras there) is not the API's.
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", "")), login, password


def configure(contract: Contract, settings: Settings) -> RestConfig:
    source = contract.source
    assert isinstance(source, RestSource)
    url = resolve(source.connection, settings.sandbox_dir, home=settings.home).get_secret_value()
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
        memory_limit=settings.duckdb_memory_limit,
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
            wait = _retry_after(response)
            if wait is not None and wait > MAX_RETRY_AFTER:
                raise self._error(
                    f"GET {urlsplit(url).path} answered {status} and asks to wait {wait:.0f} s: the source is down",
                    transient=True,
                )
            raise _Retryable(f"{status} {response.reason}", wait)
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


def _reach_back(cursor: str, seconds: int) -> str:
    """The cursor `seconds` earlier (the contract's lookback): a source that makes a record visible
    late, with an updated_at at or before the last one published, still has it pulled."""
    if not seconds:
        return cursor
    moved = dt.datetime.fromisoformat(cursor) - dt.timedelta(seconds=seconds)
    return moved.isoformat(sep=" ")


def _iso(cursor: str) -> str:
    """The warehouse's cursor text (UTC, '2026-01-02 03:04:05') as ISO 8601 for an API."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?", cursor):
        return cursor.replace(" ", "T") + "Z"
    return cursor


def _same_origin(client: Client, first: str, following: str) -> str:
    """A `Link: rel="next"` URL, refused when it leaves the API's origin (it would get our secrets)."""
    a, b = urlsplit(first), urlsplit(following)
    if (a.scheme, a.netloc) != (b.scheme, b.netloc):
        raise client._error(f"the next-page link leads to another server ({b.scheme}://{b.netloc}); refused")
    return following


@dataclass(frozen=True)
class Page:
    """One answer of the API as it came (the bytes DuckDB will read) and how many records it holds."""

    number: int
    content: bytes
    records: int
    unknown: dict[str, int]  # undeclared field path -> records of the page that have it
    missing: dict[str, int]  # declared field path -> records of the page that lack it


def fields_of(
    records: list[dict[str, Any]], node: dict[str, Any], prefix: str = ""
) -> tuple[dict[str, int], dict[str, int]]:
    """Schema drift of one page: undeclared fields, and declared fields records lack (counted).

    Checked on the objects already parsed (for the next cursor), by counting the records' key
    sets (nearly all records of a page share one), so the cost stays far below the parsing's;
    a null parent object is not a drift of its fields."""
    unknown: dict[str, int] = {}
    missing: dict[str, int] = {}
    shapes = set(map(tuple, records))
    drifted = any(node.keys() != set(keys) for keys in shapes)
    for keys, count in Counter(map(tuple, records)).items() if drifted else ():
        for key in keys:
            if key not in node:
                unknown[prefix + key] = unknown.get(prefix + key, 0) + count
        if len(keys) != len(node) or any(key not in node for key in keys):
            for key in node.keys() - set(keys):
                missing[prefix + key] = missing.get(prefix + key, 0) + count
    for key, children in node.items():
        if children:
            inner = [v for v in map(dict.get, records, repeat(key)) if type(v) is dict]
            if inner:
                more_unknown, more_missing = fields_of(inner, children, prefix + key + ".")
                unknown.update(more_unknown)
                missing.update(more_missing)
    return unknown, missing


def pages(client: Client, state: dict[str, Any] | None) -> Iterator[Page]:
    """Every page, in order, whatever the paging style."""
    source = client.source
    tree = _tree([path for _, path in client.config.columns])
    paging = source.paging
    url = client.config.base_url + source.path
    params: dict[str, Any] | None = dict(source.params)
    assert params is not None
    if source.updated_since and state and state.get("cursor"):
        params[source.updated_since] = _iso(_reach_back(str(state["cursor"]), source.lookback))
    size = paging.page_size
    style = paging.style
    if style is PagingStyle.page:
        params[paging.page_param], params[paging.size_param] = paging.first_page, size
    elif style is PagingStyle.offset:
        params[paging.offset_param], params[paging.limit_param] = 0, size
    elif style in (PagingStyle.cursor, PagingStyle.link):
        params[paging.limit_param] = size
    next_url: str | None = url
    number = 0
    while next_url:
        body, response = client.get(next_url, params)
        records = body if not source.records else _dig(body, source.records)
        if not isinstance(records, list):
            raise client._error(f"the response has no record list at '{source.records or '(body)'}'")
        if records and not all(type(r) is dict for r in records):
            raise client._error(f"page {number + 1}: the records at '{source.records or '(body)'}' are not all objects")
        number += 1
        if records:
            yield Page(number, response.content, len(records), *fields_of(records, tree))
        if style is PagingStyle.none:
            return
        if style is PagingStyle.link:
            link = response.links.get("next", {}).get("url")
            next_url, params = (_same_origin(client, url, urljoin(response.url, link)) if link else None), None
        elif style is PagingStyle.cursor:
            token = _dig(body, paging.next_cursor)
            if not token:
                return
            params = {**(params or {}), paging.cursor_param: token}
        elif not records:  # a server may serve fewer than asked: only an empty page is the end
            return
        elif style is PagingStyle.page:
            assert params is not None
            params = {**params, paging.page_param: params[paging.page_param] + 1}
        else:
            assert params is not None
            params = {**params, paging.offset_param: params[paging.offset_param] + len(records)}


# -- from JSON pages to the contract's columns, in DuckDB -------------------------------------------


def _tree(paths: list[str]) -> dict[str, Any]:
    """Nested dict of the declared paths: {'address': {'ward_code': {}}, 'name': {}}."""
    root: dict[str, Any] = {}
    for path in paths:
        node = root
        for part in path.split("."):
            node = node.setdefault(part, {})
    return root


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Drift:
    """Fields the contract does not declare, and declared fields absent from the source."""

    def __init__(self) -> None:
        self.unknown: dict[str, int] = {}  # path -> records that have it
        self.missing: dict[str, int] = {}  # path -> records that lack it
        self.first_page: dict[str, int] = {}

    def note(self, kind: dict[str, int], path: str, count: int, page: int) -> None:
        kind[path] = kind.get(path, 0) + count
        self.first_page.setdefault(path, page)

    def as_notes(self) -> dict[str, Any]:
        return {
            "unknown_fields": {
                p: {"records": n, "first_page": self.first_page[p]} for p, n in sorted(self.unknown.items())
            },
            "missing_fields": {
                p: {"records": n, "first_page": self.first_page[p]} for p, n in sorted(self.missing.items())
            },
        }


class Spooler:
    """Turns saved pages into the run's rows, chunk by chunk, in DuckDB.

    DuckDB parses the JSON (in C++, without Python's lock), so a chunk is flattened while the
    next pages download. Every declared leaf is read as text (numbers as written, objects as
    JSON); the stage types it. Schema drift was counted on each page as it arrived (`fields_of`);
    under `evolve` the undeclared fields are read too, as JSON, into `_lgsp_extra`.
    """

    def __init__(self, config: RestConfig, sink: Sink) -> None:
        self.config = config
        self.sink = sink
        self.tree = _tree([path for _, path in config.columns])
        self.policy = config.source.schema_drift
        self.drift = Drift()
        self.records = 0

    @property
    def columns(self) -> list[str]:
        return [name for name, _ in self.config.columns] + ([EXTRA] if self.policy is SchemaDrift.evolve else [])

    def empty(self) -> str:
        """The columns with no rows: what an endpoint with no records gives."""
        return "SELECT " + ", ".join(f"CAST(NULL AS VARCHAR) AS {_ident(c)}" for c in self.columns) + " WHERE false"

    def _read(self, files: list[Path], kind: str) -> str:
        listed = "[" + ", ".join(duck.literal(str(f)) for f in files) + "]"
        largest = max(f.stat().st_size for f in files)  # DuckDB sizes its buffers by this bound
        options = f"format = 'unstructured', records = 'false', maximum_object_size = {largest + 1024}"
        options += f", columns = {{'json': {duck.literal(kind)}}}"
        return f"read_json({listed}, {options})"

    def _readable(self, path: str, unknown: list[str]) -> bool:
        """Whether DuckDB can read an undeclared field by name: its parent must be a declared
        object (a key with a dot in it would read as a path), and no sibling may differ from it
        only in case (DuckDB's struct fields ignore case). Others are still counted as drift."""
        *parents, name = path.split(".")
        node = self.tree
        for part in parents:
            if part not in node or not node[part]:
                return False
            node = node[part]
        prefix = ".".join(parents) + "." if parents else ""
        siblings = set(node) | {u[len(prefix) :] for u in unknown if u.startswith(prefix) and u != path}
        return not any(s.lower() == name.lower() for s in siblings)

    def _declared(self, node: dict[str, Any], unknown: set[str], prefix: str) -> str:
        """DuckDB type reading the declared paths as text, and undeclared ones (evolve) as JSON."""
        items = []
        for name, children in node.items():
            items.append(
                f"{_ident(name)} " + (self._declared(children, unknown, prefix + name + ".") if children else "VARCHAR")
            )
        for path in sorted(unknown):
            if path.startswith(prefix) and "." not in path[len(prefix) :]:
                items.append(f"{_ident(path[len(prefix) :])} JSON")
        return f"STRUCT({', '.join(items)})"

    def load(self, chunk: list[tuple[Path, Page]]) -> None:
        """Flatten one chunk of saved pages into the run's rows."""
        files = [path for path, _ in chunk]
        first_page = chunk[0][1].number
        for _, page in chunk:
            for path, count in page.unknown.items():
                self.drift.note(self.drift.unknown, path, count, page.number)
            for path, count in page.missing.items():
                self.drift.note(self.drift.missing, path, count, page.number)
        unknown = sorted({path for _, page in chunk for path in page.unknown})
        # an undeclared field inside an undeclared object is carried with its parent
        unknown = [u for u in unknown if not any(u.startswith(o + ".") for o in unknown)]
        unknown = [u for u in unknown if self._readable(u, unknown)]
        kind = self._declared(self.tree, set(unknown) if self.policy is SchemaDrift.evolve else set(), "")
        body = kind + "[]"
        for part in reversed(self.config.source.records.split(".") if self.config.source.records else []):
            body = f"STRUCT({_ident(part)} {body})"
        records_at = "json" + "".join(f".{_ident(p)}" for p in self.config.source.records.split(".") if p)
        source = f"(SELECT unnest({records_at}) AS r FROM {self._read(files, body)})"
        missing = {path for _, page in chunk for path in page.missing}
        if self.policy is SchemaDrift.freeze and (unknown or missing):
            notes = self.drift.as_notes()
            found = [f"undeclared field '{p}' (page {v['first_page']})" for p, v in notes["unknown_fields"].items()]
            found += [f"missing field '{p}' (page {v['first_page']})" for p, v in notes["missing_fields"].items()]
            raise ConnectorError(
                "the source's fields differ from the contract and its schema_drift policy is freeze: "
                + "; ".join(found)
                + ". Declare the fields (or set schema_drift: evolve or discard)."
            )
        items = [
            f"r.{'.'.join(_ident(p) for p in path.split('.'))} AS {_ident(name)}" for name, path in self.config.columns
        ]
        if self.policy is SchemaDrift.evolve:
            extra = "CAST(NULL AS VARCHAR)"
            if unknown:
                # only the fields a record has: {"extra": [1, 2]}, not {"extra": …, "other": null}
                entries = ", ".join(
                    f"{{'k': {duck.literal(path)}, 'v': r.{'.'.join(_ident(p) for p in path.split('.'))}}}"
                    for path in unknown
                )
                kept = f"list_filter([{entries}], e -> e.v IS NOT NULL)"
                extra = f"CASE WHEN len({kept}) > 0 THEN CAST(to_json(map_from_entries({kept})) AS VARCHAR) END"
            items.append(f"{extra} AS {_ident(EXTRA)}")
        try:
            self.records += self.sink(f"SELECT {', '.join(items)} FROM {source}")
        except duckdb.Error as exc:
            raise ConnectorError(
                f"pages {first_page}…: could not read the records: {str(exc).splitlines()[0]}"
            ) from None
        for f in files:
            f.unlink()


# Records per chunk: at least one DuckDB row group (122,880 rows), so each insert is written
# straight to the warehouse file instead of going through its write-ahead log first.
CHUNK_RECORDS = 125_000
Sink = Callable[[str], int]  # runs a SELECT of text columns into the run's rows; returns rows added


def load(config: RestConfig, state: dict[str, Any] | None, notes: dict[str, Any], sink: Sink, folder: Path) -> None:
    """Pull every record of the endpoint (or those updated since the cursor in `state`) and
    hand them to `sink` chunk by chunk, as SELECTs DuckDB runs over the saved pages (`folder`).
    A chunk is flattened while the next pages download. `notes` receives the requests, retries
    and tokens used and the schema drift found."""
    pages_dir = folder / "pages"
    pages_dir.mkdir(parents=True, exist_ok=True)
    client = Client(config)
    spooler = Spooler(config, sink)
    flattening = ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="lgsp-rest-flatten", initializer=lower_thread_priority
    )
    pending: Future[None] | None = None
    try:
        chunk: list[tuple[Path, Page]] = []
        for page in pages(client, state):
            saved = pages_dir / f"{page.number:07d}.json"
            saved.write_bytes(page.content)
            chunk.append((saved, replace(page, content=b"")))
            if sum(p.records for _, p in chunk) >= CHUNK_RECORDS:
                if pending is not None:
                    pending.result()
                pending = flattening.submit(spooler.load, chunk)
                chunk = []
        if pending is not None:
            pending.result()
        if chunk:
            spooler.load(chunk)
        if spooler.records == 0:
            sink(spooler.empty())
    except ConnectorError as exc:
        exc.dataset, exc.connector = config.dataset, config.connection
        raise
    finally:
        flattening.shutdown(wait=True, cancel_futures=True)
        client.close()
        shutil.rmtree(pages_dir, ignore_errors=True)
        notes.update(
            requests=client.requests,
            retries=client.retries,
            tokens=client.tokens,
            records=spooler.records,
            schema_drift={"policy": config.source.schema_drift.value, **spooler.drift.as_notes()},
        )


def extract(config: RestConfig, state: dict[str, Any] | None, notes: dict[str, Any]) -> pa.RecordBatchReader:
    """The records as Arrow batches (text columns), through a temporary DuckDB file."""
    folder = Path(tempfile.mkdtemp(prefix="lgsp-rest-"))
    con = duck.connect(folder / "records.duckdb", memory_limit=config.memory_limit)

    def sink(select: str) -> int:
        con.execute(f"CREATE TABLE IF NOT EXISTS records AS {select} LIMIT 0")
        return int((con.execute(f"INSERT INTO records {select}").fetchone() or (0,))[0])

    try:
        load(config, state, notes, sink, folder)
    except BaseException:
        con.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    reader = con.execute("SELECT * FROM records").fetch_record_batch()

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        finally:
            con.close()
            shutil.rmtree(folder, ignore_errors=True)

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


register("rest", configure=configure, load=load)(extract)
