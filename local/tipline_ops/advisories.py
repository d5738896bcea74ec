"""`tipline-ops advisory ...`: create, list, show (with the delivery report), cancel advisories, and
synchronise an OA's followers from Zalo.

Ops act for the provincial command (any unit, province-wide allowed) and follow the officer API's
rules (tipline.advisories.manage: one occurrence per Vietnam day, a bounded span; creating and
cancelling are audited with actor ``ops``). Times are Vietnam time (``2026-12-01T08:00``). Bad input
exits 2 with a message and changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from tipline import clock, wiring
from tipline.access import Caller
from tipline.advisories import manage
from tipline.advisories.model import AdvisoryInput, Category
from tipline.config import get_settings
from tipline.errors import Conflict, NotFound
from tipline.zalo_rules import VIETNAM, vietnam

from tipline_ops.commands import BadInput

OPS = Caller(subject="ops", unit_id="province", commander=True)


def _vietnam_ms(text: str, what: str) -> int:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadInput(f"{what} must be a Vietnam-time date or time like 2026-12-01T08:00") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=VIETNAM)
    return int(parsed.timestamp() * 1000)


def _end_ms(text: str) -> int:
    """``--until``: a date means the end of that Vietnam day."""
    if len(text) == 10:
        return _vietnam_ms(text + "T23:59:59", "--until")
    return _vietnam_ms(text, "--until")


def _input(args: argparse.Namespace) -> AdvisoryInput:
    if bool(args.at) == bool(args.cron):
        raise BadInput("give either --at (once) or --cron with --until (recurring)")
    if args.province_wide == bool(args.units):
        raise BadInput("give either --province-wide or --units")
    schedule: dict[str, Any] = (
        {"at_ms": _vietnam_ms(args.at, "--at")}
        if args.at
        else {"cron": args.cron, "end_ms": _end_ms(args.until) if args.until else None}
    )
    text = args.text
    if text == "-":
        text = sys.stdin.read().strip()
    body = {
        "title": args.title,
        "text": text,
        "link": args.link,
        "link_title": args.link_title,
        "category": args.category,
        "target": {"province_wide": True}
        if args.province_wide
        else {"unit_ids": [u.strip() for u in args.units.split(",") if u.strip()]},
        "schedule": schedule,
    }
    try:
        return AdvisoryInput.model_validate({k: v for k, v in body.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'input'}: {error['msg']}" for error in exc.errors()
        )
        raise BadInput(problems) from exc


def create(args: argparse.Namespace) -> int:
    data = _input(args)
    if data.schedule.at_ms is not None and data.schedule.at_ms < clock.now_ms():
        # A typo in --at (last year, the wrong month) must not send at once; "now" stays allowed.
        raise BadInput("--at is in the past (Vietnam time); give a future time")
    table = wiring.table()
    units = {account.unit_id for account in table.list_oas()}
    try:
        advisory = manage.create(table, OPS, data, units, clock.now_ms())
    except manage.InvalidAdvisory as exc:
        raise BadInput(str(exc)) from exc
    due = f"{vietnam(advisory.next_due_ms):%Y-%m-%d %H:%M}" if advisory.next_due_ms else "-"
    print(f"advisory {advisory.advisory_id} created; first due {due} Vietnam time")
    return 0


def list_(args: argparse.Namespace) -> int:
    for advisory in manage.list_all(wiring.table()):
        due = f"{vietnam(advisory.next_due_ms):%Y-%m-%d %H:%M}" if advisory.next_due_ms else "-"
        target = "province" if advisory.target.province_wide else ",".join(advisory.target.unit_ids)
        print(
            f"{advisory.advisory_id}  {advisory.status:<9}  {advisory.category:<13}  "
            f"next {due}  {target}  {advisory.title}"
        )
    return 0


def show(args: argparse.Namespace) -> int:
    table = wiring.table()
    try:
        advisory = manage.read(table, OPS, args.advisory_id)
        reports = manage.report(table, OPS, args.advisory_id)
    except NotFound as exc:
        raise BadInput(f"no advisory {args.advisory_id}") from exc
    document = {**advisory.model_dump(mode="json"), "report": [r.model_dump() for r in reports]}
    print(json.dumps(document, ensure_ascii=False, indent=2))
    return 0


def cancel(args: argparse.Namespace) -> int:
    try:
        advisory = manage.cancel(wiring.table(), OPS, args.advisory_id, clock.now_ms(), args.reason)
    except NotFound as exc:
        raise BadInput(f"no advisory {args.advisory_id}; nothing changed") from exc
    except Conflict as exc:
        raise BadInput(f"{exc}; nothing changed") from exc
    print(f"advisory {advisory.advisory_id} cancelled")
    return 0


def sync_followers(args: argparse.Namespace) -> int:
    from tipline.advisories.followers import sync_followers as sync

    table = wiring.table()
    oa = table.get_oa(args.oa)
    if oa is None:
        raise BadInput(f"OA {args.oa} is not registered")
    result = sync(table, get_settings(), wiring.token_store(), wiring.pepper(), oa, clock.now_ms())
    print(
        f"OA {oa.oa_id}: Zalo counts {result.total} followers, listed {result.listed}, "
        f"created {result.created}, now following {result.now_following}, "
        f"now unfollowed {result.now_unfollowed}, complete={result.complete}"
    )
    return 0


def register(subcommands: Any) -> None:
    advisory = subcommands.add_parser(
        "advisory", help="create, list, show, cancel advisories; sync followers"
    )
    actions = advisory.add_subparsers(dest="action", required=True, metavar="ACTION")
    command = actions.add_parser("create", help="schedule an advisory (Vietnam time)")
    command.add_argument("--title", required=True)
    command.add_argument("--text", required=True, help="up to 2000 characters; '-' reads stdin")
    command.add_argument("--link", help="https:// address for the advisory's button")
    command.add_argument("--link-title", help="the button's label")
    command.add_argument("--category", required=True, choices=[c.value for c in Category])
    command.add_argument("--units", help="comma-separated unit ids")
    command.add_argument("--province-wide", action="store_true")
    command.add_argument("--at", help="once, at this Vietnam time (2026-12-01T08:00)")
    command.add_argument("--cron", help="recurring: 'minute hour day month weekday' in Vietnam time")
    command.add_argument("--until", help="recurring: last day (Vietnam time)")
    command.set_defaults(run=create)
    command = actions.add_parser("list", help="every advisory, newest first")
    command.set_defaults(run=list_)
    command = actions.add_parser("show", help="an advisory with its delivery report (JSON)")
    command.add_argument("advisory_id")
    command.set_defaults(run=show)
    command = actions.add_parser("cancel", help="stop an advisory (queued deliveries stop too)")
    command.add_argument("advisory_id")
    command.add_argument("--reason", help="why, for the audit trail")
    command.set_defaults(run=cancel)
    command = actions.add_parser("sync-followers", help="match an OA's contacts to Zalo's follower list")
    command.add_argument("--oa", required=True, help="Zalo OA id")
    command.set_defaults(run=sync_followers)
