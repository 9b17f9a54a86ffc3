"""Send a report's latest version to the central reporting system, and keep what it answered.

The system (stood in for by the sandbox's simulator) takes a template code, the reporter, the
period and one value per cell, authenticates the client with OAuth2 client credentials (the
connection URL's user and password), and either accepts the report with a receipt or rejects it
with errors per cell. Every attempt is appended to the report's `sent.jsonl`, so the department
can show what was sent, when, and what came back.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from pydantic import BaseModel, SecretStr
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from lgsp.core.errors import LgspError
from lgsp.reports.versions import ReportVersion, folder

ACCEPTED, REJECTED = "accepted", "rejected"


class SubmitError(LgspError):
    """The report could not be sent (no version, not sendable, the system unreachable or refusing the client)."""


class _Busy(Exception):
    """The system asked us to come back later (429, 503): the request was not processed."""


class CellError(BaseModel):
    """One error the reporting system found, named by its row and column codes and by ours."""

    row: str | None
    column: str | None
    indicator: str | None  # the report row's indicator, for the central row code
    code: str
    message: dict[str, str]


class Sent(BaseModel):
    """One attempt to send a report version, as recorded in sent.jsonl."""

    report: str
    version: int
    template: str
    at: dt.datetime
    status: str  # accepted | rejected
    receipt: str | None = None
    central_version: int | None = None
    late: bool | None = None
    message: dict[str, str] | None = None
    errors: list[CellError] = []


def payload(report_json: dict[str, Any]) -> dict[str, Any]:
    """The body the reporting system takes: one cell per sent row and column (a disputed or missing
    value is sent as null: the system, not the hub, decides whether it may be empty)."""
    submission = report_json["submission"]
    cells = []
    for line in report_json["lines"]:
        if not line.get("central"):
            continue
        for cell in line["cells"]:
            cells.append({"row": line["central"], "column": cell["column"], "value": cell["value"], "unit": None})
    return {"template": submission["template"], "reporter": submission["reporter"], "period": submission["period"],
            "cells": cells}  # fmt: skip


def _credentials(url: SecretStr) -> tuple[str, str, str]:
    """Base URL, client id and secret from the connection's URL (http://id:secret@host:port)."""
    parts = urlsplit(url.get_secret_value())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SubmitError("the reporting connection must be an http(s) URL with the client id and secret")
    port = f":{parts.port}" if parts.port else ""
    return (
        f"{parts.scheme}://{parts.hostname}{port}{parts.path.rstrip('/')}",
        unquote(parts.username or ""),
        unquote(parts.password or ""),
    )


def send(home: Path, version: ReportVersion, url: SecretStr, *, timeout: float = 30.0) -> Sent:
    """Send one version; returns what the system answered (accepted or rejected, recorded in sent.jsonl).
    Raises SubmitError when it cannot be sent or the system fails."""
    report_json = json.loads((folder(home, version.code) / str(version.version) / "report.json").read_text("utf-8"))
    if not report_json.get("submission"):
        raise SubmitError(
            f"{version.code}: báo cáo không có nơi gửi / the report names no reporting system (submission)"
        )
    body = payload(report_json)
    base, client_id, secret = _credentials(url)
    rows = {line["central"]: line["indicator"] for line in report_json["lines"] if line.get("central")}
    with httpx.Client(base_url=base, timeout=timeout, trust_env=False) as client:
        token = _call(client, "POST", "/oauth2/token", data={"grant_type": "client_credentials"},
                      auth=(client_id, secret))  # fmt: skip
        if token.status_code != 200:
            raise SubmitError(
                f"hệ thống báo cáo từ chối tài khoản / the reporting system refused the client ({token.status_code})"
            )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        answer = _call(client, "POST", "/reporting/v1/submissions", json=body, headers=headers)
    sent = _record(version, body["template"], answer, rows)
    with (folder(home, version.code) / "sent.jsonl").open("a", encoding="utf-8") as log:
        log.write(sent.model_dump_json() + "\n")
    return sent


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request, again after a pause when the system is busy (429/503: not processed) or unreachable."""
    try:
        for attempt in Retrying(
            retry=retry_if_exception_type((_Busy, httpx.ConnectError)),
            stop=stop_after_attempt(5),
            wait=wait_exponential(multiplier=0.5, max=8),
            reraise=True,
        ):
            with attempt:
                response = client.request(method, path, **kwargs)
                if response.status_code in (429, 503):
                    raise _Busy(response.status_code)
                return response
    except (_Busy, httpx.HTTPError) as exc:
        raise SubmitError(
            f"không gửi được / could not reach the reporting system: {type(exc).__name__} {exc}"
        ) from None
    raise AssertionError("unreachable")


def _record(version: ReportVersion, template: str, answer: httpx.Response, rows: dict[str, str]) -> Sent:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    try:
        body = answer.json()
    except ValueError:
        body = None
    if answer.status_code == 201 and isinstance(body, dict) and body.get("status") == ACCEPTED:
        return Sent(report=version.code, version=version.version, template=template, at=now, status=ACCEPTED,
                    receipt=body.get("receipt"), central_version=body.get("version"), late=body.get("late"),
                    message=body.get("message"))  # fmt: skip
    if answer.status_code == 422 and isinstance(body, dict) and isinstance(body.get("errors"), list):
        errors = [
            CellError(
                row=e.get("row"),
                column=e.get("column"),
                indicator=rows.get(e.get("row") or ""),
                code=str(e.get("code")),
                message=e.get("message") or {},
            )
            for e in body["errors"]
        ]
        return Sent(report=version.code, version=version.version, template=template, at=now, status=REJECTED,
                    errors=errors)  # fmt: skip
    detail = body.get("detail") if isinstance(body, dict) else answer.text[:200]
    raise SubmitError(
        f"hệ thống báo cáo trả lời {answer.status_code} / the reporting system answered {answer.status_code}: {detail}"
    )


def history(home: Path, code: str) -> list[Sent]:
    """Every attempt to send the report, oldest first."""
    path = folder(home, code) / "sent.jsonl"
    if not path.is_file():
        return []
    return [Sent.model_validate_json(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
