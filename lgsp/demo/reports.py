"""What `lgsp demo` shows of the province's reports: built from the departments' data, a planted
conflict (the ICT department and the provincial office count full online services on the national
portal differently) disputed on the report, the report refused by the central reporting system
for that empty cell, the office resolving the conflict, and the next version accepted."""

from __future__ import annotations

from rich.console import Console

from lgsp.core.connections import resolve
from lgsp.core.errors import LgspError
from lgsp.core.settings import Settings
from lgsp.indicators import reconcile
from lgsp.reports.run import build_reports
from lgsp.reports.submit import ACCEPTED, REJECTED, send
from lgsp.schemas.indicators import load_register
from lgsp.warehouse.store import Warehouse

SENT = "online_public_services"  # the report sent in the demo
PLANTED = "DVCTT_TOAN_TRINH_QG"  # the indicator the two departments disagree on
DECIDER = "VPUBND"  # who owns it: the office that runs the administrative-procedure system
TRUSTED = "online_public_services"  # whose count it keeps: the system's own


def _resolve_planted(settings: Settings) -> str | None:
    """Resolve the planted conflict as the owning office would: keep the system's own count."""
    register = load_register(settings.indicators_dir)
    with Warehouse(settings).writer() as con:
        found = [g for g in reconcile.conflicts(con, register, PLANTED)]
        for group in found:
            picked = next((o for o in group.observations if o.dataset == TRUSTED), None)
            if picked is None or picked.value is None:
                continue
            reconcile.resolve(
                con, register, PLANTED, group.area, group.period,
                why="Số liệu đếm trực tiếp trên hệ thống do Văn phòng vận hành / counted on the system the office runs",
                by=f"staff:{DECIDER.lower()}-demo", value=picked.value, source=reconcile.source_of(picked),
            )  # fmt: skip
            return f"{group.area} {group.period}: {picked.value:g} ({reconcile.source_of(picked)})"
    return None


def run(settings: Settings, console: Console) -> bool:
    """Build every report and send the sent one; refused for the disputed cell, resolve, rebuild and
    send again. False if it is not accepted in the end (the demo then exits non-zero). On a hub where
    the conflict was resolved before, the first version is already accepted."""
    try:
        built = build_reports(settings)
        for o in built:
            disputed = f", [red]{o.version.disputed} disputed[/red]" if o.version.disputed else ""
            console.print(
                f"Report [bold]{o.report.code}[/bold]: version {o.version.version} ({o.version.cells} cells{disputed})"
            )
        url = resolve("national_reporting", settings.sandbox_dir, home=settings.home)
        version = next(o.version for o in built if o.report.code == SENT)
        sent = send(settings.home, version, url)
        if sent.status == REJECTED:
            errors = "; ".join(f"{e.row} ({e.indicator}): {e.code}" for e in sent.errors)
            console.print(f"Sent {SENT} v{version.version} to {sent.template}: [red]rejected[/red] ({errors})")
            resolved = _resolve_planted(settings)
            if resolved is None:
                console.print(f"[red]{PLANTED}: không có xung đột để xác định / no conflict to resolve[/red]")
                return False
            console.print(f"{DECIDER} resolved {PLANTED}: {resolved}")
            version = next(o.version for o in build_reports(settings, [SENT]))
            sent = send(settings.home, version, url)
        colour = "green" if sent.status == ACCEPTED else "red"
        late = " (nộp muộn / late)" if sent.late else ""
        console.print(
            f"Sent {SENT} v{version.version} to {sent.template}: [{colour}]{sent.status}[/], receipt {sent.receipt}{late}"
        )
    except LgspError as exc:
        console.print(f"[red]reports: {exc}[/red]")
        return False
    return sent.status == ACCEPTED
