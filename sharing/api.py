"""The sharing API (`/api/share/v1`): what agencies call to read the datasets granted to them.

Every data answer is one of Circular 13's three, distinct in status and body, and says which in
the `LGSP-Result` header:

| answer | status | body |
|---|---|---|
| data | 200 | `{"result": "data", ...}` |
| no data: the dataset exists, nothing matches | 204 | none |
| not permitted: exists, but not granted to the caller | 403 | `{"result": "not_permitted", "reason": ...}` |

Errors: 401 (no valid credential), 404 (unknown dataset), 400 (malformed request, naming the field).
Every request, answered or refused, is appended to the exchange log with its latency.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, FastAPI, Form, Path, Query, Request, Security
from fastapi.responses import Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBasic, HTTPBasicCredentials, HTTPBearer
from starlette.convertors import Convertor, register_url_convertor

from lgsp.core.settings import Settings
from lgsp.schemas.contract import Contract
from lgsp.sharing import checkpoints, consumers, registry
from lgsp.sharing.consumers import Authenticator, Caller
from lgsp.sharing.errors import BadRequest, RegistryError, Unauthenticated, UnknownDataset
from lgsp.sharing.exchange_log import LogUnavailable, escaped, stamp
from lgsp.sharing.grants import Decision, Grants
from lgsp.sharing.log_database import open_log
from lgsp.sharing.reading import (
    MAX_LIMIT,
    Answer,
    CursorSeal,
    check_request,
    no_data,
    not_permitted,
    parse_fields,
    parse_filters,
    read_record,
    read_rows,
)
from lgsp.sharing.requests import add_request, list_requests
from lgsp.sharing.shapes import (
    ERRORS,
    NO_DATA,
    NOT_PERMITTED,
    AccessRequestIn,
    DataRecord,
    DataRows,
    DatasetsAnswer,
    TokenAnswer,
)
from lgsp.sharing.snapshots import Snapshots
from lgsp.web.problems import Problem, problem_of


class _RecordKey(Convertor[str]):
    """A record key is the rest of the path, whatever it holds: periods like 2023-01-01/2023-05-15,
    JSON arrays, even line breaks (which Starlette's `path` converter refuses)."""

    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("record_key", _RecordKey())

PREFIX = "/api/share/v1"
# Seconds an answer waits for its exchange-log entry to be stored before it is withheld: longer than
# a write waits for another replica's hold on the log's head (log_database.LOCK_TIMEOUT, 10 s) and a
# retry, so one slow write does not withhold the answers of a whole batch.
LOG_WAIT = 20.0
LOG_LATE = (
    "Nhật ký trao đổi chưa ghi được yêu cầu này; dữ liệu không được gửi, thử lại sau / the exchange log "
    "could not store this request in time; no data was sent, try again later"
)
TAG = "Agency sharing / Chia sẻ dữ liệu"

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="`lgsp_<key id>.<secret>`")
bearer_header = HTTPBearer(auto_error=False, description="A token from POST /api/share/v1/token")
basic_header = HTTPBasic(auto_error=False, description="client_id and client_secret, for the token endpoint")
Key = Annotated[str | None, Security(api_key_header)]
Bearer = Annotated[HTTPAuthorizationCredentials | None, Security(bearer_header)]


def _json(status: int, body: dict[str, Any], result: str, headers: dict[str, str] | None = None) -> Response:
    try:
        content = orjson.dumps(body)
    except TypeError:  # a message that echoes text that is not Unicode: answered escaped, like the log
        content = orjson.dumps(escaped(body))
    return Response(
        content, status_code=status, media_type="application/json",
        headers={"LGSP-Result": result, **(headers or {})},
    )  # fmt: skip


def _error(exc: Problem) -> Response:
    body = {"result": "error", "error": exc.body()}
    headers = {"WWW-Authenticate": 'Bearer realm="lgsp", ApiKey header="X-API-Key"'} if exc.status == 401 else {}
    if exc.status == 503:
        headers["Retry-After"] = "5"
    return _json(exc.status, body, "error", headers)


def answer_response(answer: Answer) -> Response:
    if answer.result == "data":
        return _json(200, answer.body, "data")
    if answer.result == "no_data":
        return Response(status_code=204, headers={"LGSP-Result": "no_data", "LGSP-Dataset": answer.body["dataset"]})
    return _json(403, answer.body, "not_permitted")


class Sharing:
    """The API's state: who is calling, what they may read, the table copies and the log."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.auth = Authenticator(settings)
        self.grants = Grants(settings, self.auth.query)
        self.auth.on_change(self.grants.forget)
        self.snapshots = Snapshots(settings)
        signer = checkpoints.private_key(registry.hub_secret(settings, checkpoints.KEY_NAME))
        self.log = open_log(settings, signer) if settings.exchange_log else None
        self.seal = CursorSeal(registry.hub_secret(settings, "cursor").encode())

    def caller(self, api_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> Caller:
        found = None
        if api_key:
            found = self.auth.api_key(api_key)
        elif bearer is not None:
            found = self.auth.bearer(bearer.credentials)
        else:
            raise Unauthenticated("send an API key in X-API-Key or a bearer token in Authorization")
        if found is None:
            raise Unauthenticated("the API key or token is not valid (revoked, expired or mistyped)")
        return found

    def contract(self, dataset: str) -> Contract:
        contract = self.grants.contracts().get(dataset)
        if contract is None:
            raise UnknownDataset(f"no dataset {dataset!r} on this hub", dataset=dataset)
        return contract

    def record(self, entry: dict[str, Any], started: float, wait: bool) -> bool:
        """Log the request's entry and, if `wait`, wait until it is stored; False if that took
        longer than LOG_WAIT (the log cannot be written now). A refusal does not wait: it sends no
        data, and it must not hold a thread (or the event loop, for the refusals an exception
        handler logs) while the log is down."""
        if self.log is None:
            return True
        entry["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
        entry["at"] = stamp(time.time())
        stored = self.log.append(entry)
        return stored.wait(LOG_WAIT) if wait else True

    def handle(
        self, operation: str, entry: dict[str, Any], work: Callable[[dict[str, Any]], Answer | Response]
    ) -> Response:
        """Run one request, turn its answer or error into HTTP, and log it (whatever happened)."""
        started = time.perf_counter()
        entry = {"operation": operation, "consumer": None, "credential": None, "dataset": None, **entry}
        try:
            if self.log is not None:
                self.log.check()  # fail closed: nothing is answered that the log cannot record
            result = work(entry)
            if isinstance(result, Response):
                response = result
                entry.setdefault("outcome", "data" if response.status_code < 300 else "error")
            else:
                response = answer_response(result)
                entry.update(outcome=result.result, rows=result.rows)
                if result.reason:
                    entry["reason"] = result.reason
        except Exception as exc:  # lgsp.web.problems decides the status; logged either way
            problem = problem_of(exc)
            response = _error(problem)
            if problem is exc:
                entry.update(outcome=problem.code, error=problem.message)
            else:
                entry.update(outcome="error", error=type(exc).__name__)
        entry["status"] = response.status_code
        if not self.record(entry, started, wait=response.status_code < 400):
            # Not stored in time: the answer is withheld, so nothing leaves unlogged. The entry may
            # still be stored later, saying what would have been answered: one more entry says it was not.
            response = _error(problem_of(LogUnavailable(LOG_LATE)))
            withheld = {k: entry.get(k) for k in ("operation", "consumer", "credential", "dataset")}
            withheld |= {"outcome": "withheld", "status": response.status_code, "answer_at": entry["at"]}
            self.record(withheld, started, wait=False)
        return response


def _decision(sharing: Sharing, caller: Caller, contract: Contract) -> Decision | Answer:
    decision = sharing.grants.decision(caller.consumer, contract)
    if decision is None:
        return not_permitted(contract.id, "no_grant", "you have no active grant on this dataset; ask its owner")
    return decision


def _describe(contract: Contract, decision: Decision) -> dict[str, Any]:
    grant = decision.grant
    return {
        "id": contract.id,
        "title": {"vi": contract.title.vi, "en": contract.title.en},
        "publisher": contract.publisher.code,
        "classification": contract.classification.value,
        "primary_key": contract.primary_key,
        "columns": [
            {
                "name": c.name,
                "type": c.type.value,
                "personal_data": c.personal_data.value,
                "description": {"vi": c.description.vi, "en": c.description.en},
            }
            for c in contract.columns
            if c.name in decision.columns
        ],
        "row_filter": {k: list(v) for k, v in decision.row_filter.items()},
        "purpose": grant.purpose,
        "expires_at": grant.expires_at.isoformat() if grant.expires_at else None,
        "links": {
            "rows": f"{PREFIX}/datasets/{contract.id}/rows",
            "record": f"{PREFIX}/datasets/{contract.id}/records/{{key}}",
        },
    }


def router(sharing: Sharing) -> APIRouter:
    api = APIRouter(prefix=PREFIX, tags=[TAG])

    def who(entry: dict[str, Any], api_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> Caller:
        caller = sharing.caller(api_key, bearer)
        entry.update(consumer=caller.consumer, credential=caller.credential)
        return caller

    @api.post(
        "/token",
        response_model=TokenAnswer,
        summary="OAuth2 client credentials: a short-lived bearer token",
        responses={400: {"description": "`{\"error\": \"unsupported_grant_type\"}`"},
                   401: {"description": "`{\"error\": \"invalid_client\"}`"}},
    )  # fmt: skip
    def token(
        basic: Annotated[HTTPBasicCredentials | None, Security(basic_header)],
        grant_type: Annotated[str, Form(description="`client_credentials`")],
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form()] = None,
    ) -> Response:
        def work(entry: dict[str, Any]) -> Response:
            cid, secret = (basic.username, basic.password) if basic else (client_id, client_secret)
            entry["credential"] = cid
            if grant_type != "client_credentials":
                entry["outcome"] = "bad_request"
                return _json(400, {"error": "unsupported_grant_type"}, "error")
            issued = consumers.issue_token(sharing.settings, cid or "", secret or "") if cid and secret else None
            if issued is None:
                entry["outcome"] = "unauthenticated"
                return _json(401, {"error": "invalid_client"}, "error", {"WWW-Authenticate": 'Basic realm="lgsp"'})
            token, ttl = issued
            return _json(200, {"access_token": token, "token_type": "bearer", "expires_in": ttl}, "data",
                         {"Cache-Control": "no-store"})  # fmt: skip

        return sharing.handle("token", {}, work)

    @api.get(
        "/datasets",
        summary="The datasets the caller may read, with the granted columns and rows",
        response_model=DatasetsAnswer,
        responses={204: {"description": "No data: nothing is granted to the caller."}, **ERRORS},
    )
    def datasets(api_key: Key = None, bearer: Bearer = None) -> Response:
        def work(entry: dict[str, Any]) -> Answer:
            caller = who(entry, api_key, bearer)
            readable = [_describe(c, d) for c, d in sharing.grants.readable(caller.consumer)]
            if not readable:
                return Answer("no_data", {"result": "no_data", "dataset": ""})
            return Answer("data", {"result": "data", "datasets": readable}, rows=len(readable))

        return sharing.handle("list", {}, work)

    @api.get(
        "/datasets/{dataset}/rows",
        summary="Rows of a dataset, in key order: filters, fields and keyset pages",
        response_model=DataRows,
        responses={204: NO_DATA, 403: NOT_PERMITTED, **ERRORS},
    )
    def rows(
        dataset: Annotated[str, Path(description="Dataset id", examples=["driving_licences"])],
        fields: Annotated[
            str | None,
            Query(description="Comma-separated columns (default: all granted)", examples=["licence_no,licence_class"]),
        ] = None,
        filters: Annotated[
            str | None,
            Query(description='JSON: {"column": value} or {"column": [values]}', examples=['{"licence_class": ["B"]}']),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page")] = 100,
        after: Annotated[str | None, Query(description="The `next` cursor of the previous page")] = None,
        api_key: Key = None,
        bearer: Bearer = None,
    ) -> Response:
        asked_fields = parse_fields(fields)
        log = {"dataset": dataset, "fields": asked_fields, "limit": limit, "after": after}

        def work(entry: dict[str, Any]) -> Answer:
            caller = who(entry, api_key, bearer)
            contract = sharing.contract(dataset)
            decision = _decision(sharing, caller, contract)
            if isinstance(decision, Answer):
                return decision
            entry["filters"] = filters  # as sent, until it parses (a refused request is logged with it)
            parsed = parse_filters(filters)
            entry["filters"] = parsed or None
            refused = check_request(contract, decision, asked_fields, parsed)
            if refused is not None:
                return refused
            snapshot = sharing.snapshots.get(contract)
            if snapshot is None:
                return no_data(contract.id)
            return read_rows(
                sharing.snapshots, snapshot, contract, decision, asked_fields, parsed, limit, after, sharing.seal
            )

        return sharing.handle("rows", log, work)

    @api.get(
        "/datasets/{dataset}/records/{key:record_key}",
        summary="One record by its primary key (a JSON array when the key has several columns)",
        response_model=DataRecord,
        responses={204: NO_DATA, 403: NOT_PERMITTED, **ERRORS},
    )
    def record(
        dataset: Annotated[str, Path(description="Dataset id", examples=["driving_licences"])],
        key: Annotated[str, Path(description="Primary-key value, e.g. a licence number", examples=["441501557952"])],
        api_key: Key = None,
        bearer: Bearer = None,
    ) -> Response:
        def work(entry: dict[str, Any]) -> Answer:
            caller = who(entry, api_key, bearer)
            contract = sharing.contract(dataset)
            decision = _decision(sharing, caller, contract)
            if isinstance(decision, Answer):
                return decision
            return read_record(sharing.snapshots, sharing.snapshots.get(contract), contract, decision, key)

        return sharing.handle("record", {"dataset": dataset, "key": key}, work)

    @api.post(
        "/requests",
        status_code=201,
        summary="Ask a dataset's owner for access, with a purpose (answered within 2 working days)",
        responses={201: {"description": "The request, with its id and due date"}, **ERRORS},
    )
    def request_access(body: AccessRequestIn, api_key: Key = None, bearer: Bearer = None) -> Response:
        def work(entry: dict[str, Any]) -> Response:
            caller = who(entry, api_key, bearer)
            contract = sharing.contract(body.dataset)
            try:
                made = add_request(sharing.settings, caller.consumer, contract.id, body.purpose, body.columns)
            except RegistryError as exc:
                raise BadRequest(exc.message, field=exc.field) from None
            entry["outcome"] = "data"
            return _json(201, _request_dict(made), "data")

        return sharing.handle("request_access", {"dataset": body.dataset}, work)

    @api.get("/requests", summary="The caller's access requests and their answers", responses={**ERRORS})
    def my_requests(api_key: Key = None, bearer: Bearer = None) -> Response:
        def work(entry: dict[str, Any]) -> Response:
            caller = who(entry, api_key, bearer)
            mine = [_request_dict(r) for r in list_requests(sharing.settings) if r.consumer == caller.consumer]
            entry["outcome"] = "data"
            return _json(200, {"result": "data", "requests": mine}, "data")

        return sharing.handle("list_requests", {}, work)

    return api


def _request_dict(r: Any) -> dict[str, Any]:
    return {
        "id": r.id, "dataset": r.dataset, "purpose": r.purpose, "columns": r.columns, "status": r.status,
        "requested_at": r.requested_at.isoformat(), "due_on": r.due_on.isoformat(), "overdue": r.overdue(),
        "reason": r.reason, "answered_at": r.answered_at.isoformat() if r.answered_at else None,
    }  # fmt: skip


def install(app: FastAPI, settings: Settings) -> Sharing:
    """Mount the sharing API and the admin pages on `lgsp serve`'s app; `problem_response` renders
    the errors of its routes (lgsp.app routes them here)."""
    sharing = Sharing(settings)
    app.include_router(router(sharing))
    from lgsp.sharing.admin import admin_app

    app.mount("/admin", admin_app(settings))
    return sharing


def problem_response(sharing: Sharing) -> Callable[[Request, Problem], Awaitable[Response]]:
    """Errors raised before a handler ran (a parameter FastAPI could not parse) are answered and
    logged like every other sharing request."""

    async def render(request: Request, problem: Problem) -> Response:
        def refuse(entry: dict[str, Any]) -> Answer:
            raise problem

        operation = request.url.path.removeprefix(PREFIX).strip("/").split("/")[0] or "unknown"
        return sharing.handle(operation, {"path": request.url.path}, refuse)

    return render
