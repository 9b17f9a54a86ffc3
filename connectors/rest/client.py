"""HTTP for the REST connector: one session, OAuth2 or API-key auth, a polite pace, retries."""

from __future__ import annotations

import datetime as dt
import email.utils
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from lgsp.connectors.errors import ConnectorError
from lgsp.connectors.rest.config import RestConfig
from lgsp.schemas.contract import AuthType

MAX_RETRY_AFTER = 300.0  # seconds: a server asking for longer is treated as down


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
