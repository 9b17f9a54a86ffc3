"""`lgsp webhooks`: consumers' webhook subscriptions, the outbox, and a delivery pass.

Exit codes of `lgsp webhooks deliver`: 0 when no delivery failed for good in this pass (some may
wait for a retry), 1 when at least one reached its last attempt and is now `failed`."""

from __future__ import annotations

from typing import Annotated

import typer

from lgsp.sharing.cli import _errors, _settings, _show_secret, _table, console

webhooks_app = typer.Typer(
    help="Webhook subscriptions of consumers: signed notices of new releases and publications.", no_args_is_help=True
)


@webhooks_app.command("add")
def webhooks_add(
    consumer: Annotated[str, typer.Argument(help="Consumer code.")],
    url: Annotated[str, typer.Argument(help="Where to POST the events (http:// or https://).")],
    dataset: Annotated[
        list[str] | None, typer.Option(help="A dataset to follow (repeat); default: all the consumer may read.")
    ] = None,
) -> None:
    """Subscribe a consumer's URL; the signing secret is printed once."""
    from lgsp.sharing.webhooks import add_subscription

    with _errors():
        sub, secret = add_subscription(_settings(), consumer, url, dataset)
    console.print(f"Đã đăng ký / Subscribed: {sub.id} → {sub.url}", soft_wrap=True)
    _show_secret("Khóa ký / Signing secret (shown once)", secret)


@webhooks_app.command("list")
def webhooks_list(consumer: Annotated[str | None, typer.Option(help="Only this consumer.")] = None) -> None:
    """Subscriptions, active or not (never their secrets)."""
    from lgsp.sharing.webhooks import list_subscriptions

    rows = [[s.id, s.consumer, s.url, ", ".join(s.datasets) if s.datasets is not None else "all readable / mọi dữ liệu được đọc",
             s.created_at, "active" if s.active else f"inactive: {s.deactivated_why}"]
            for s in list_subscriptions(_settings(), consumer)]  # fmt: skip
    _table(
        "Đăng ký webhook / Webhook subscriptions",
        ["id", "consumer", "url", "datasets", "created (UTC)", "status"],
        rows,
    )


@webhooks_app.command("remove")
def webhooks_remove(subscription: Annotated[str, typer.Argument(help="Subscription id (wh_...).")]) -> None:
    """Deactivate a subscription; what it still had to send is cancelled."""
    from lgsp.sharing.webhooks import remove_subscription

    with _errors():
        sub = remove_subscription(_settings(), subscription)
    console.print(f"Đã hủy / Removed: {sub.id} ({sub.consumer} → {sub.url})", soft_wrap=True)


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    failed: Annotated[bool, typer.Option("--failed", help="Only deliveries that failed for good.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
) -> None:
    """The outbox: each delivery's state, attempts and last answer."""
    from lgsp.sharing.deliveries import deliveries

    found = deliveries(_settings(), status="failed" if failed else None, limit=limit)
    rows = [[d["id"], d["subscription"], d["consumer"], d["type"], d["dataset"] or "", d["status"], d["attempts"],
             d["last_status"] or "", d["last_error"] or "", d["next_attempt_at"] if d["status"] == "pending" else "",
             "; ".join(f"{a['at'][:19]} {a['status_code'] or a['error']}" for a in d["attempt_log"])]
            for d in found]  # fmt: skip
    columns = ["id", "subscription", "consumer", "event", "dataset", "status", "attempts", "last status",
               "last error", "next attempt (UTC)", "attempts (UTC)"]  # fmt: skip
    _table("Lượt gửi webhook / Webhook deliveries", columns, rows)


@webhooks_app.command("deliver")
def webhooks_deliver() -> None:
    """One delivery pass: send every due delivery once. Exit 1 if one failed for good in this pass."""
    from lgsp.sharing.deliveries import Deliverer

    deliverer = Deliverer(_settings())
    try:
        done = deliverer.run_once()
    finally:
        deliverer.close()
    console.print(f"Đã gửi / Delivery pass: {done}")
    if done.failed:
        console.print(f"[red]Thất bại hẳn / Failed for good: {', '.join(map(str, done.failed))} "
                      "(lgsp webhooks deliveries --failed)[/red]")  # fmt: skip
        raise typer.Exit(1)


@webhooks_app.command("test")
def webhooks_test(subscription: Annotated[str, typer.Argument(help="Subscription id (wh_...).")]) -> None:
    """Send a signed ping to a subscription now; exit 1 unless the receiver answered 2xx (a ping
    not delivered is retried like any event)."""
    from lgsp.sharing.deliveries import Deliverer, deliveries
    from lgsp.sharing.webhooks import ping

    settings = _settings()
    with _errors():
        delivery = ping(settings, subscription)
    deliverer = Deliverer(settings)
    try:
        done = deliverer.run_once(only=delivery)
    finally:
        deliverer.close()
    row = next(d for d in deliveries(settings) if d["id"] == delivery)
    answer = row["last_status"] or row["last_error"]
    if delivery in done.delivered:
        console.print(f"[green]Đã nhận / Delivered: HTTP {answer}[/green]")
        return
    console.print(f"[red]Chưa nhận / Not delivered ({row['status']}): {answer}[/red]", soft_wrap=True)
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(webhooks_app, name="webhooks")
