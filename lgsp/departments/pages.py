"""The department pages' routes: a dashboard, uploads and receipts, templates, held runs, and the
conflicts between sources of the indicators the department owns.

Every route finds the staff member from the admin pages' signed session (the same cookie and
key), and answers only for datasets whose publisher is the staff member's department: another
department's dataset or submission is "not found", whatever its id. `?format=json` is the JSON
twin of each page. Forms carry the session's CSRF token, as on the admin pages.
"""

from __future__ import annotations

import dataclasses
import hmac
from typing import Any
from urllib.parse import quote as urlquote
from urllib.parse import urlencode

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from lgsp.core.errors import LgspError
from lgsp.core.settings import Settings
from lgsp.departments import uploads
from lgsp.departments.conflicts import owned_conflicts, resolve_owned
from lgsp.departments.status import statuses
from lgsp.pipeline import EDIT_WAIT, Pipeline
from lgsp.schemas.contract import Contract, FileSource
from lgsp.schemas.loader import load_contracts
from lgsp.sharing.admin import csrf_token, session_staff, staff_session
from lgsp.sharing.staff import Staff
from lgsp.submissions import inbox, ledger, receipts
from lgsp.submissions.archive import Archive
from lgsp.submissions.correction_sheet import correction_sheet, file_name
from lgsp.submissions.corrections import open_rows
from lgsp.submissions.ledger import Channel, Submission
from lgsp.submissions.template import template
from lgsp.warehouse import edits

PREFIX = "/department"
_env = Environment(loader=PackageLoader("lgsp.departments", "templates"), autoescape=select_autoescape(["j2"]))
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class NotYours(LookupError):
    """Not found, as far as this staff member may know."""


class LoginFirst(Exception):
    """No staff member is logged in: the login page, then back to `path`."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def department_app(settings: Settings) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    staff_session(app, settings)
    pipeline = Pipeline(settings)

    def logged_in(request: Request) -> Staff:
        staff = session_staff(settings, request)
        if staff is None:
            raise LoginFirst(str(request.url.path))
        return staff

    def lang(request: Request) -> str:
        chosen = request.query_params.get("lang")
        if chosen in ("vi", "en"):
            request.session["lang"] = chosen
        return str(request.session.get("lang", "vi"))

    def checked(request: Request, token: str) -> None:
        expected = str(request.session.get("csrf") or "")
        if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
            raise PermissionError("biểu mẫu đã hết hạn, hãy tải lại trang / the form expired; reload the page")

    def own(staff: Staff) -> dict[str, Contract]:
        contracts = load_contracts(settings.contracts_dir)
        return {k: c for k, c in sorted(contracts.items()) if c.publisher.code == staff.department}

    def own_contract(staff: Staff, dataset_id: str) -> Contract:
        contract = own(staff).get(dataset_id)
        if contract is None:
            raise NotYours(dataset_id)
        return contract

    def own_submission(staff: Staff, submission_id: int) -> tuple[Submission, list[receipts.QuarantinedRow]]:
        with pipeline.warehouse.reader() as con:
            submission = ledger.get(con, submission_id)
            if submission is None or submission.dataset_id not in own(staff):
                raise NotYours(str(submission_id))
            return submission, receipts.quarantined_rows(con, submission)

    def page(request: Request, name: str, staff: Staff, data: dict[str, Any], **extra: Any) -> Response:
        if request.query_params.get("format") == "json":
            return JSONResponse(data)
        language = lang(request)

        def t(vi: str, en: str) -> str:
            return vi if language == "vi" else en

        html = _env.get_template(name).render(
            t=t, lang=language, staff=staff, csrf=csrf_token(request), path=request.url.path, prefix=PREFIX,
            message=request.query_params.get("message", ""), error=request.query_params.get("error", ""),
            outcomes=receipts.OUTCOMES, **data, **extra,
        )  # fmt: skip
        return HTMLResponse(html)

    @app.exception_handler(LoginFirst)
    async def login_first(request: Request, exc: LoginFirst) -> Response:
        return RedirectResponse("/admin/login?" + urlencode({"next": exc.path}), status_code=303)

    @app.exception_handler(NotYours)
    async def not_found(request: Request, exc: NotYours) -> Response:
        return JSONResponse({"error": "không tìm thấy / not found"}, status_code=404)

    def back(to: str, **query: str) -> Response:
        return RedirectResponse(f"{PREFIX}{to}?{urlencode(query)}", status_code=303)

    @app.get("/")
    async def dashboard(request: Request) -> Response:
        staff = logged_in(request)
        mine = own(staff)
        with pipeline.warehouse.reader() as con:
            found = statuses(con, settings, list(mine.values()))
            sent = ledger.listing(con, dataset_ids=list(mine), limit=50)
        data = {
            "department": staff.department,
            "datasets": [s.as_json() for s in found],
            "submissions": [_submission_json(s) for s in sent],
        }
        return page(request, "dashboard.html.j2", staff, data, statuses=found, sent=sent)

    @app.post("/upload")
    async def upload(request: Request) -> Response:
        staff = logged_in(request)
        form = await request.form()
        try:
            checked(request, str(form.get("csrf", "")))
            contract = own_contract(staff, str(form.get("dataset", "")))
            if not isinstance(contract.source, FileSource):
                raise uploads.Refused(
                    "bộ dữ liệu này lấy từ hệ thống của Sở, không nhận tệp / this dataset comes from a database "
                    "or an API: it takes no files"
                )
            sent = form.get("file")
            if sent is None or isinstance(sent, str) or not sent.filename:
                raise uploads.Refused("hãy chọn một tệp / choose a file")
            data = await sent.read(uploads.limit() + 1)
            uploads.check(sent.filename, data)
        except (uploads.Refused, PermissionError) as exc:
            return back("/", error=str(exc))
        corrects = str(form.get("corrects", "")).strip()
        if corrects.isdigit():  # it may only correct a submission of the same dataset
            corrected, _ = own_submission(staff, int(corrects))
            if corrected.dataset_id != contract.id:
                return back("/", error="lần nộp được sửa thuộc bộ dữ liệu khác / that submission is of another dataset")
        name = sent.filename or "upload"

        def keep() -> Submission:
            return inbox.receive_bytes(
                pipeline.warehouse,
                Archive(settings),
                dataset_id=contract.id,
                name=name,
                data=data,
                sender=f"staff:{staff.username}",
                channel=Channel.CORRECTION if corrects.isdigit() else Channel.UPLOAD,
                corrects=int(corrects) if corrects.isdigit() else None,
            )

        submission = await anyio.to_thread.run_sync(keep)
        if pipeline.under_way(contract.id):  # an Airflow run is between its steps: the next run takes it
            return back(
                f"/submissions/{submission.id}",
                message="Đã nhận tệp; một lần chạy của bộ dữ liệu đang diễn ra, tệp sẽ được đọc ở lần chạy sau / "
                "The file is received; a run of this dataset is under way, and the next run reads it",
            )
        try:  # the same run as a file dropped into the inbox: it takes this upload with the rest
            await anyio.to_thread.run_sync(lambda: pipeline.run(contract.id, wait=EDIT_WAIT))
        except LgspError as exc:  # the run records its own failure; this is only for the page
            return back(f"/submissions/{submission.id}", error=str(exc))
        return RedirectResponse(f"{PREFIX}/submissions/{submission.id}", status_code=303)

    @app.get("/submissions/{submission_id}")
    async def receipt(request: Request, submission_id: int) -> Response:
        staff = logged_in(request)
        submission, rows = own_submission(staff, submission_id)
        with pipeline.warehouse.reader() as con:
            still_open = len(open_rows(con, submission.dataset_id, submission.id))
        data = {**receipts.as_json(submission, rows), "open_rows": still_open}
        return page(request, "receipt.html.j2", staff, data, submission=submission, rows=rows, still_open=still_open)

    @app.get("/datasets/{dataset_id}/template.xlsx")
    async def template_download(request: Request, dataset_id: str) -> Response:
        staff = logged_in(request)
        contract = own_contract(staff, dataset_id)
        return _xlsx(template(contract), f"mau_{dataset_id}.xlsx")

    @app.get("/datasets/{dataset_id}")
    async def dataset_page(request: Request, dataset_id: str) -> Response:
        staff = logged_in(request)
        contract = own_contract(staff, dataset_id)
        with pipeline.warehouse.reader() as con:
            (status,) = statuses(con, settings, [contract])
            rows = open_rows(con, dataset_id) if status.takes_files else []
            history = edits.history(con, dataset_id)
        data = {
            **status.as_json(),
            "key": list(contract.primary_key),
            "open_rows": jsonable_encoder([dataclasses.asdict(r) for r in rows]),
            "edits": [e.model_dump(mode="json") for e in history],
        }
        return page(
            request, "dataset.html.j2", staff, data, status=status, contract=contract, rows=rows, history=history
        )

    async def edit(request: Request, dataset_id: str, action: str) -> Response:
        staff = logged_in(request)
        form = await request.form()
        try:
            checked(request, str(form.get("csrf", "")))
            contract = own_contract(staff, dataset_id)
            key = {k: str(form.get(f"key.{k}", "")).strip() for k in contract.primary_key}
            why, by = str(form.get("why", "")).strip(), f"staff:{staff.username}"
            if action == "retract":
                done = await anyio.to_thread.run_sync(lambda: pipeline.retract(dataset_id, key, by=by, why=why))
            elif action == "correct":
                column = str(form.get("column", ""))
                value = str(form.get("value", ""))
                done = await anyio.to_thread.run_sync(
                    lambda: pipeline.correct(dataset_id, key, {column: value}, by=by, why=why)
                )
            else:
                edit_id = int(str(form.get("edit", "0")) or 0)
                done = await anyio.to_thread.run_sync(lambda: pipeline.undo_edit(dataset_id, edit_id, by=by))
        except (PermissionError, LgspError, ValueError) as exc:
            return back(f"/datasets/{dataset_id}", error=getattr(exc, "message", str(exc)))
        release = f" → v{done.release}" if isinstance(done.release, int) else ""
        return back(f"/datasets/{dataset_id}", message=f"#{done.id}: {done.action.value}{release}")

    @app.post("/datasets/{dataset_id}/retract")
    async def retract(request: Request, dataset_id: str) -> Response:
        return await edit(request, dataset_id, "retract")

    @app.post("/datasets/{dataset_id}/correct")
    async def correct(request: Request, dataset_id: str) -> Response:
        return await edit(request, dataset_id, "correct")

    @app.post("/datasets/{dataset_id}/undo")
    async def undo(request: Request, dataset_id: str) -> Response:
        return await edit(request, dataset_id, "undo")

    @app.get("/datasets/{dataset_id}/corrections.xlsx")
    async def dataset_corrections(request: Request, dataset_id: str) -> Response:
        return await corrections_download(request, dataset_id, None)

    @app.get("/submissions/{submission_id}/corrections.xlsx")
    async def submission_corrections(request: Request, submission_id: int) -> Response:
        staff = logged_in(request)
        submission, _ = own_submission(staff, submission_id)
        return await corrections_download(request, submission.dataset_id, submission_id)

    async def corrections_download(request: Request, dataset_id: str, submission_id: int | None) -> Response:
        """The quarantined rows still open, as the XLSX the department fixes and sends back."""
        staff = logged_in(request)
        contract = own_contract(staff, dataset_id)
        with pipeline.warehouse.reader() as con:
            if not open_rows(con, dataset_id, submission_id):
                return back(f"/datasets/{dataset_id}", error="không còn dòng nào cần sửa / no row is left to correct")
            data = correction_sheet(con, contract, submission_id=submission_id)
        return _xlsx(data, file_name(contract, submission_id))

    @app.post("/datasets/{dataset_id}/review/{run_id}")
    async def review(request: Request, dataset_id: str, run_id: str) -> Response:
        staff = logged_in(request)
        form = await request.form()
        try:
            checked(request, str(form.get("csrf", "")))
            own_contract(staff, dataset_id)
            publish = form.get("decision") == "publish"
            run = await anyio.to_thread.run_sync(
                lambda: pipeline.review(dataset_id, run_id, publish=publish, by=f"staff:{staff.username}")
            )
        except (PermissionError, LgspError) as exc:
            return back("/", error=str(exc))
        done = "Đã công bố / published" if publish else "Đã bỏ / discarded"
        return back("/", message=f"{done}: {dataset_id} ({run.run_id})")

    @app.get("/conflicts")
    async def conflicts(request: Request) -> Response:
        """The indicators this department owns whose sources disagree: each value, its source, and a
        form to pick one or explain."""
        staff = logged_in(request)
        with pipeline.warehouse.reader() as con:
            found = owned_conflicts(con, settings, staff.department)
        data = {"department": staff.department, "conflicts": [c.as_json() for c in found]}
        return page(request, "conflicts.html.j2", staff, data, found=found)

    @app.post("/conflicts/resolve")
    async def resolve(request: Request) -> Response:
        staff = logged_in(request)
        form = {k: str(v) for k, v in (await request.form()).items()}
        try:
            checked(request, form.get("csrf", ""))
            done = await anyio.to_thread.run_sync(lambda: resolve_owned(pipeline, settings, staff, form))
        except (PermissionError, LgspError) as exc:
            return back("/conflicts", error=str(exc))
        return back("/conflicts", message=f"Đã xác định / resolved: {done}")

    return app


def _xlsx(data: bytes, name: str) -> Response:
    return Response(
        data, media_type=XLSX, headers={"Content-Disposition": f"attachment; filename*=UTF-8''{urlquote(name)}"}
    )


def _submission_json(s: Submission) -> dict[str, Any]:
    return {
        "id": s.id,
        "dataset": s.dataset_id,
        "name": s.name,
        "sender": s.sender,
        "received_at": s.received_at.isoformat(),
        "status": s.status.value,
        "rows_published": s.rows_published,
        "rows_quarantined": s.rows_quarantined,
        "rows_rejected": s.rows_rejected,
    }
