"""Admin pages for department staff, behind a login (`/admin`): their datasets' grants (add,
revoke), access requests (approve, refuse with a reason; overdue ones flagged), consumers,
exchange statistics and the export of their datasets' exchange log. `?format=json` is the JSON twin.

A separate app mounted on `lgsp serve`, so its signed session cookie (itsdangerous, through
Starlette's SessionMiddleware) and CSRF check never touch the APIs.
"""

from __future__ import annotations

import datetime as dt
import hmac
import io
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.middleware.sessions import SessionMiddleware

from lgsp.core.settings import Settings
from lgsp.schemas.contract import Contract
from lgsp.sharing import audit, registry
from lgsp.sharing.consumers import list_consumers
from lgsp.sharing.errors import RegistryError
from lgsp.sharing.grants import Grants, add_grant, list_grants, revoke_grant
from lgsp.sharing.requests import approve, list_requests, refuse
from lgsp.sharing.staff import LockedOut, Staff, current_staff, login
from lgsp.sharing.stats import operational
from lgsp.sharing.workdays import VIETNAM

_env = Environment(loader=PackageLoader("lgsp.sharing", "templates"), autoescape=select_autoescape(["html", "j2"]))


def parse_row_filter(text: str) -> dict[str, list[str]]:
    """`commune_code=19333; licence_class=B,C` → {"commune_code": ["19333"], "licence_class": ["B", "C"]}."""
    out: dict[str, list[str]] = {}
    for part in text.replace("\n", ";").split(";"):
        if not part.strip():
            continue
        if "=" not in part:
            raise RegistryError(f"row filter: {part.strip()!r} is not column=value", field="row_filter")
        name, values = part.split("=", 1)
        out.setdefault(name.strip(), []).extend(v.strip() for v in values.split(",") if v.strip())
    return out


def parse_expiry(text: str) -> dt.datetime | None:
    """A date (the grant ends when that day ends in Vietnam) or nothing."""
    if not text.strip():
        return None
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise RegistryError("expires: a date such as 2026-12-31", field="expires") from None
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), VIETNAM)


def _local(path: str) -> str:
    """Where to go after logging in: only the hub's own staff pages, never another site."""
    return path if path.startswith(("/admin/", "/department/")) and "//" not in path and "\\" not in path else ""


MAX_WAITING_LOGINS = 16  # logins queued for a hashing thread; more are turned away at once


@dataclass
class _Logins:
    limiter: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(2))
    waiting: int = 0


def staff_session(app: FastAPI, settings: Settings) -> None:
    """The staff login's signed session cookie, one for every staff app (the admin pages, the
    department pages), so logging in once serves both."""
    app.add_middleware(
        SessionMiddleware, secret_key=registry.hub_secret(settings, "session"), session_cookie="lgsp_admin",
        max_age=8 * 3600, same_site="strict", https_only=settings.base_url.startswith("https"),
    )  # fmt: skip


def session_staff(settings: Settings, request: Request) -> Staff | None:
    """Who is logged in, checked against the staff record at every request: a session ends when
    its login is disabled, its password reset or its department changed."""
    user = request.session.get("user")
    staff = current_staff(settings, user.get("username", ""), user.get("version")) if user else None
    if user and staff is None:
        request.session.clear()
    return staff


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made at the first form it shows."""
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(24)
    return str(request.session["csrf"])


def admin_app(settings: Settings) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    logins = _Logins()
    staff_session(app, settings)

    async def posted(request: Request) -> dict[str, str]:
        data = await request.form()
        # A field sent several times (the column checkboxes) comes as its values joined by commas.
        form = {k: ",".join(str(v) for v in data.getlist(k)) for k in data}
        expected = str(request.session.get("csrf") or "")
        # A session without a token (e.g. one that just logged in) accepts no form at all.
        if not expected or not hmac.compare_digest(form.get("csrf", "").encode(), expected.encode()):
            raise PermissionError("the form expired; reload the page")
        return form

    def render(template: str, **context: Any) -> HTMLResponse:
        return HTMLResponse(_env.get_template(template).render(**context))

    def own_datasets(staff: Staff) -> dict[str, Contract]:
        contracts = Grants(settings, None).contracts()
        return {k: c for k, c in sorted(contracts.items()) if c.publisher.code == staff.department}

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, error: str = "", next: str = "") -> Response:
        return render("login.html.j2", csrf=csrf_token(request), error=error, next=_local(next))

    @app.post("/login")
    async def do_login(request: Request) -> Response:
        try:
            form = await posted(request)
        except PermissionError:
            return RedirectResponse("/admin/login?error=expired", status_code=303)
        if logins.waiting >= MAX_WAITING_LOGINS:  # a flood of logins waits no longer: tried again later
            return RedirectResponse("/admin/login?error=busy", status_code=303)
        address = request.client.host if request.client else ""
        logins.waiting += 1
        try:  # scrypt in a worker thread, two at a time: a login never stalls other requests
            staff = await anyio.to_thread.run_sync(
                login, settings, form.get("username", ""), form.get("password", ""), address, limiter=logins.limiter
            )
        except LockedOut:
            return RedirectResponse("/admin/login?error=locked", status_code=303)
        finally:
            logins.waiting -= 1
        if staff is None:
            return RedirectResponse("/admin/login?error=login", status_code=303)
        request.session.clear()
        request.session["user"] = {"username": staff.username, "version": staff.session_version}
        request.session["csrf"] = secrets.token_urlsafe(24)  # a new session, a new token
        return RedirectResponse(_local(form.get("next", "")) or "/admin/", status_code=303)

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/admin/login", status_code=303)

    @app.get("/")
    async def dashboard(request: Request, message: str = "", error: str = "") -> Response:
        staff = session_staff(settings, request)
        if staff is None:
            return RedirectResponse("/admin/login", status_code=303)
        mine = own_datasets(staff)
        grants = [g for g in list_grants(settings, include_inactive=True) if g.dataset in mine]
        requests = [r for r in list_requests(settings) if r.dataset in mine]
        data = {
            "staff": {"username": staff.username, "department": staff.department},
            "datasets": [
                {
                    "id": c.id,
                    "title": c.title.vi,
                    "classification": c.classification.value,
                    "columns": [{"name": col.name, "personal_data": col.personal_data.value} for col in c.columns],
                }
                for c in mine.values()
            ],
            "grants": [
                {
                    "id": g.id,
                    "consumer": g.consumer,
                    "dataset": g.dataset,
                    "columns": list(g.columns) if g.columns is not None else None,
                    "row_filter": {k: list(v) for k, v in g.row_filter.items()},
                    "purpose": g.purpose,
                    "expires_at": g.expires_at.isoformat() if g.expires_at else None,
                    "granted_by": g.granted_by,
                    "active": g.active(),
                    "revoked": g.revoked_at is not None,
                }
                for g in grants
            ],
            "requests": [
                {
                    "id": r.id,
                    "consumer": r.consumer,
                    "dataset": r.dataset,
                    "purpose": r.purpose,
                    "status": r.status,
                    "requested_at": f"{r.requested_at.astimezone(VIETNAM):%Y-%m-%d %H:%M}",
                    "due_on": r.due_on.isoformat(),
                    "overdue": r.overdue(),
                    "reason": r.reason,
                    # What approving grants: every column, its personal-data class, whether it is
                    # ticked at first (asked for, or, when the request named none, not personal).
                    "columns": [
                        {
                            "name": col.name,
                            "personal_data": col.personal_data.value,
                            "asked": col.name in r.columns if r.columns else col.personal_data.value == "none",
                        }
                        for col in mine[r.dataset].columns
                    ],
                }
                for r in requests
            ],
            "consumers": [
                {k: c[k] for k in ("code", "name", "kind", "contact")} | {"active": not c["revoked_at"]}
                for c in list_consumers(settings)
            ],
            "stats": operational(settings, set(mine)),
        }
        if request.query_params.get("format") == "json":
            return JSONResponse(data)
        return render("dashboard.html.j2", csrf=csrf_token(request), message=message, error=error, **data)

    async def act(request: Request, action: Any) -> Response:
        staff = session_staff(settings, request)
        if staff is None:
            return RedirectResponse("/admin/login", status_code=303)
        try:
            form = await posted(request)
            done = action(staff, form, own_datasets(staff))
        except (RegistryError, PermissionError, ValueError) as exc:
            return RedirectResponse("/admin/?" + urlencode({"error": str(exc)}), status_code=303)
        return RedirectResponse("/admin/?" + urlencode({"message": done}), status_code=303)

    def _own(dataset: str, mine: dict[str, Contract]) -> None:
        if dataset not in mine:
            raise PermissionError(f"{dataset} is not one of your department's datasets")

    @app.post("/grants")
    async def new_grant(request: Request) -> Response:
        def do(staff: Staff, form: dict[str, str], mine: dict[str, Contract]) -> str:
            _own(form.get("dataset", ""), mine)
            columns = [c.strip() for c in form.get("columns", "").split(",") if c.strip()] or None
            grant = add_grant(
                settings, form.get("consumer", ""), form["dataset"], purpose=form.get("purpose", ""),
                granted_by=staff.username, columns=columns, row_filter=parse_row_filter(form.get("row_filter", "")),
                expires_at=parse_expiry(form.get("expires", "")),
            )  # fmt: skip
            return f"Đã cấp quyền / granted: #{grant.id} {grant.consumer} → {grant.dataset}"

        return await act(request, do)

    @app.post("/grants/{grant_id}/revoke")
    async def revoke(request: Request, grant_id: int) -> Response:
        def do(staff: Staff, form: dict[str, str], mine: dict[str, Contract]) -> str:
            found = [g for g in list_grants(settings, include_inactive=True) if g.id == grant_id]
            if not found:
                raise RegistryError(f"no grant {grant_id}")
            _own(found[0].dataset, mine)
            revoke_grant(settings, grant_id)
            return f"Đã thu hồi / revoked: grant #{grant_id}"

        return await act(request, do)

    @app.post("/requests/{request_id}/approve")
    async def approve_request(request: Request, request_id: int) -> Response:
        def do(staff: Staff, form: dict[str, str], mine: dict[str, Contract]) -> str:
            found = [r for r in list_requests(settings) if r.id == request_id]
            if not found:
                raise RegistryError(f"no access request {request_id}")
            _own(found[0].dataset, mine)
            ticked = [c for c in form.get("column", "").split(",") if c]
            if not ticked:
                raise RegistryError("Hãy đánh dấu các cột được cấp / tick the columns to grant", field="columns")
            grant = approve(
                settings, request_id, staff.username, columns=ticked,
                row_filter=parse_row_filter(form.get("row_filter", "")), expires_at=parse_expiry(form.get("expires", "")),
            )  # fmt: skip
            return f"Đã chấp thuận / approved: request #{request_id} → grant #{grant.id}"

        return await act(request, do)

    @app.post("/requests/{request_id}/refuse")
    async def refuse_request(request: Request, request_id: int) -> Response:
        def do(staff: Staff, form: dict[str, str], mine: dict[str, Contract]) -> str:
            found = [r for r in list_requests(settings) if r.id == request_id]
            if not found:
                raise RegistryError(f"no access request {request_id}")
            _own(found[0].dataset, mine)
            refuse(settings, request_id, staff.username, form.get("reason", ""))
            return f"Đã từ chối / refused: request #{request_id}"

        return await act(request, do)

    @app.get("/export.jsonl")
    async def export(request: Request) -> Response:
        staff = session_staff(settings, request)
        if staff is None:
            return RedirectResponse("/admin/login", status_code=303)
        out = io.BytesIO()
        audit.export(
            settings, set(own_datasets(staff)), out,
            {"publisher": staff.department, "exported_by": staff.username,
             "exported_at": registry.stamp(registry.now())},
        )  # fmt: skip
        name = f"exchange-log-{staff.department}-{dt.date.today():%Y%m%d}.jsonl"
        return Response(out.getvalue(), media_type="application/x-ndjson",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip

    return app
