"""`tipline-ops status`: the fleet of OAs on one screen (or CSV/JSON), for the on-call engineer.

Per OA: its unit, whether operations disabled it, the last hour it had an accepted event (the
webhook's OaEvents metric, last 7 days), its token's state and expiry, whether its app's secrets are
stored, and the alarms in ALARM that name it (its `watch-oa` silence alarm). Ids, states and times
only: never a token or secret.

`disable-oa` / `enable-oa` set the flag on the OA's registry entry that the webhook's gate and the
reply and advisory senders read with the entry (cached REGISTRY_CACHE_SECONDS per container).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from datetime import UTC, datetime
from typing import Any

import boto3
from tipline import clock, wiring
from tipline.adapters import secrets
from tipline.audit import AuditRecord, write_audit
from tipline.config import get_settings
from tipline.observability import NAMESPACE, SERVICE
from tipline.tokens.store import health

from tipline_ops.commands import _ZALO_ID, BadInput, oa_alarm_name

COLUMNS = [
    "oa_id",
    "unit_id",
    "app_id",
    "state",
    "last_event",
    "token",
    "token_expires",
    "secrets",
    "alarms",
]
OPS_ACTOR = "ops"
LAST_EVENT_DAYS = 7


def _when(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%MZ") if ms else "-"


def _last_events(oa_ids: list[str], now_ms: int) -> dict[str, int]:
    """Per OA, the start of the last hour with an accepted event (OaEvents{service, oa_id})."""
    cloudwatch = boto3.client("cloudwatch")
    found: dict[str, int] = {}
    start = datetime.fromtimestamp((now_ms - LAST_EVENT_DAYS * 86_400_000) / 1000, UTC)
    end = datetime.fromtimestamp(now_ms / 1000, UTC)
    for oa_id in oa_ids:
        points = cloudwatch.get_metric_statistics(
            Namespace=NAMESPACE,
            MetricName="OaEvents",
            Dimensions=[{"Name": "service", "Value": SERVICE}, {"Name": "oa_id", "Value": oa_id}],
            StartTime=start,
            EndTime=end,
            Period=3600,
            Statistics=["Sum"],
        ).get("Datapoints", [])
        times = [int(p["Timestamp"].timestamp() * 1000) for p in points if p.get("Sum", 0) > 0]
        if times:
            found[oa_id] = max(times)
    return found


def _alarming(stage: str) -> set[str]:
    names: set[str] = set()
    pages = boto3.client("cloudwatch").get_paginator("describe_alarms")
    for page in pages.paginate(AlarmNamePrefix=f"tipline-{stage}-", StateValue="ALARM"):
        names.update(alarm["AlarmName"] for alarm in page.get("MetricAlarms", []))
    return names


def _has_secrets(secret_id: str) -> bool:
    try:
        value = secrets.secret_json(secret_id, cache_seconds=0)
    except Exception:
        return False
    return bool(value.get("oa_secret_key")) and bool(value.get("app_secret"))


def rows() -> list[dict[str, str]]:
    settings = get_settings()
    accounts = wiring.table().list_oas()
    oa_ids = [account.oa_id for account in accounts]
    now_ms = clock.now_ms()
    tokens = {row["oa_id"]: row for row in health(wiring.token_store(), oa_ids)}
    events = _last_events(oa_ids, now_ms)
    alarming = _alarming(settings.stage)
    stack_wide = sorted(name for name in alarming if "-oa-" not in name)
    table = []
    for account in accounts:
        token = tokens[account.oa_id]
        own = [name for name in alarming if name == oa_alarm_name(settings.stage, account.oa_id)]
        table.append(
            {
                "oa_id": account.oa_id,
                "unit_id": account.unit_id,
                "app_id": account.app_id,
                "state": "DISABLED" if account.disabled else "active",
                "last_event": _when(events.get(account.oa_id)),
                "token": str(token["state"]),
                "token_expires": _when(token.get("expires_at_ms")),
                "secrets": "present"
                if _has_secrets(settings.app_secret_prefix + account.app_id)
                else "MISSING",
                "alarms": " ".join(
                    name.removeprefix(f"tipline-{settings.stage}-") for name in own + stack_wide
                )
                or "-",
            }
        )
    return table


def status(args: argparse.Namespace) -> int:
    """Print the fleet, sorted by --sort; exit 1 when an OA needs attention (token or secrets)."""
    table = sorted(rows(), key=lambda row: (row[args.sort], row["oa_id"]))
    if args.format == "json":
        print(json.dumps({"generated_at_ms": clock.now_ms(), "oas": table}, indent=1))
    elif args.format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
        sys.stdout.write(buffer.getvalue())
    else:
        widths = {c: max([len(c), *(len(row[c]) for row in table)]) for c in COLUMNS}
        print("  ".join(c.ljust(widths[c]) for c in COLUMNS).rstrip())
        for row in table:
            print("  ".join(row[c].ljust(widths[c]) for c in COLUMNS).rstrip())
        print(f"{len(table)} OA(s)")
    attention = [
        r for r in table if r["token"] in ("missing", "expired", "failing") or r["secrets"] != "present"
    ]
    return 1 if attention else 0


def set_disabled(args: argparse.Namespace) -> int:
    """disable-oa / enable-oa: flip the OA's flag, audited (actor ops, with the reason)."""
    disable = args.command == "disable-oa"
    if not _ZALO_ID.match(args.oa):
        raise BadInput("--oa must be Zalo's numeric OA id")
    reason = (args.reason or "").strip()
    if not 3 <= len(reason) <= 500:
        raise BadInput("--reason is required (3 to 500 characters): it goes to the audit trail")
    table = wiring.table()
    account = table.get_oa(args.oa)
    if account is None:
        raise BadInput(f"OA {args.oa} is not registered")
    if account.disabled == disable:
        print(f"OA {args.oa} is already {'disabled' if disable else 'enabled'}; nothing changed")
        return 0
    action = "oa_disabled" if disable else "oa_enabled"
    at_ms = clock.now_ms()
    write_audit(
        table,
        AuditRecord(
            oa_id=args.oa,
            unit_id=account.unit_id,
            actor=OPS_ACTOR,
            action=action,
            reason=reason,
            at_ms=at_ms,
            details={"oa_id": args.oa},  # the console's audit list shows details
        ),
    )
    table.put_oa(account.model_copy(update={"disabled": disable}))
    seconds = int(get_settings().registry_cache_seconds)
    if disable:
        print(
            f"OA {args.oa} disabled (unit {account.unit_id}). Within {seconds} s (warm functions cache the"
            " registry entry that long) its webhooks are answered 200 'this OA is disabled' and nothing"
            " is stored (metric WebhookOaDisabled); its replies are held in the replies DLQ (reason"
            " oa_disabled) and its advisory recipients skipped (oa_disabled). Undo: enable-oa."
        )
    else:
        print(
            f"OA {args.oa} enabled (unit {account.unit_id}); takes effect within {seconds} s. Replies held"
            " meanwhile are in the replies DLQ: `dlq-inspect --queue replies`, then"
            " `redrive --queue replies` sends them (inside Zalo's 7-day window)."
        )
    return 0


def register(subcommands: Any) -> None:
    command = subcommands.add_parser(
        "status", help="every OA: unit, state, last event, token state and expiry, secrets, alarms"
    )
    command.add_argument("--sort", choices=COLUMNS, default="unit_id")
    command.add_argument("--format", choices=["table", "csv", "json"], default="table")
    command.set_defaults(run=status)

    for name, what in (("disable-oa", "stop"), ("enable-oa", "resume")):
        command = subcommands.add_parser(
            name, help=f"{what} one OA's intake and sending (its registry entry and data stay)"
        )
        command.add_argument("--oa", required=True, help="Zalo OA id")
        command.add_argument("--reason", required=True, help="why (for the audit trail)")
        command.set_defaults(run=set_disabled)
