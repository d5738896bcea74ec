"""Operations commands of `tipline-ops`: OA registry, citizen purge, statistics, OA watch (dead letters
are tipline_ops.dead_letters).

They run with the same configuration as the functions (tipline.config, read from the environment);
`--stack NAME` copies it from the deployed webhook function instead. Bad input exits 2 with a
message and changes nothing. Nothing a citizen wrote, no Zalo user id and no secret is printed.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import io
import json
import os
import re
import sys
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
from tipline import clock, wiring
from tipline.adapters import secrets
from tipline.config import get_settings
from tipline.domain import OaAccount
from tipline.intake.pseudonym import pseudonym, short_pseudonym
from tipline.intake.service import erase_citizen
from tipline.observability import NAMESPACE, SERVICE

_ZALO_ID = re.compile(r"^[0-9]{1,32}$")
_UNIT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
QUEUES = {
    "replies": "replies_queue_url",
    "intake-spill": "spill_queue_url",
    "fetch": "fetch_queue_url",
    "fanout": "fanout_queue_url",
}


class BadInput(Exception):
    """The operator's input is wrong; exit 2 with this message, nothing changed."""


# ------------------------------------------------------------------------------ configuration
def load_stack_env(stack: str) -> None:
    """Point the commands at a deployed stack: its webhook function's environment, as deployed."""
    cfn = boto3.client("cloudformation")
    try:
        function = cfn.describe_stack_resource(StackName=stack, LogicalResourceId="WebhookFunction")
    except cfn.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ValidationError":
            raise  # credentials, session, permissions: tipline-ops says which, in one line
        where = "in this account and region"
        raise BadInput(f"stack {stack!r} not found ({where}) or has no WebhookFunction") from exc
    name = function["StackResourceDetail"]["PhysicalResourceId"]
    variables = boto3.client("lambda").get_function_configuration(FunctionName=name)["Environment"][
        "Variables"
    ]
    os.environ.update(variables)
    # The fan-out queue is configured on the advisory functions only (dlq-inspect/redrive --queue fanout).
    try:
        sender = cfn.describe_stack_resource(StackName=stack, LogicalResourceId="AdvisorySenderFunction")
    except cfn.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ValidationError":
            raise
        sender = None  # a stack without advisories: --queue fanout then says it is not configured
    if sender is not None:
        advisory = boto3.client("lambda").get_function_configuration(
            FunctionName=sender["StackResourceDetail"]["PhysicalResourceId"]
        )
        fanout = advisory["Environment"]["Variables"].get("FANOUT_QUEUE_URL")
        if fanout:
            os.environ["FANOUT_QUEUE_URL"] = fanout
    outputs = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    pool = {o["OutputKey"]: o["OutputValue"] for o in outputs}.get("OfficerUserPoolId")
    if pool:  # add-officer / add-commander
        os.environ["OFFICER_USER_POOL_ID"] = pool
    get_settings.cache_clear()
    wiring.table.cache_clear()


def load_local_env(url: str) -> None:
    """Point the commands at `make dev` (the local stack at ``url``): its functions' configuration."""
    info_url = url.rstrip("/") + "/_local/info"
    if not info_url.startswith(("http://127.0.0.1", "http://localhost")):
        raise BadInput("--local must be the local stack's loopback URL (http://127.0.0.1:PORT)")
    try:
        with urllib.request.urlopen(info_url, timeout=5) as answer:  # noqa: S310 - loopback only
            info = json.loads(answer.read())
    except (OSError, ValueError) as exc:
        raise BadInput(f"no local stack answers at {url}: start it with `make dev` (TIPLINE_PORT)") from exc
    os.environ.update(info["environment"])
    os.environ.update({"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"})
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    get_settings.cache_clear()
    wiring.table.cache_clear()


# ------------------------------------------------------------------------------ register-oa
def _check_entry(oa: str, app_id: str, unit_id: str, parent_unit_id: str | None, where: str = "") -> None:
    for label, value in ((f"{where}--oa", oa), (f"{where}--app-id", app_id)):
        if not _ZALO_ID.match(value):
            raise BadInput(f"{label} must be Zalo's numeric id (digits only)")
    if not _UNIT_ID.match(unit_id):
        raise BadInput(f"{where}--unit-id: letters, digits, '_', '-', '.' (at most 64)")
    if parent_unit_id is not None and not _UNIT_ID.match(parent_unit_id):
        raise BadInput(f"{where}--parent-unit-id: letters, digits, '_', '-', '.' (at most 64)")


BULK_COLUMNS = ["oa_id", "app_id", "unit_id", "unit_name", "parent_unit_id"]


def register_many(path: str) -> int:
    """``register-oa --from-file``: a CSV of OAs (BULK_COLUMNS), all checked before any is written.

    Every app must already have its secrets (register one OA of it with --secrets-file first)."""
    rows = list(csv.DictReader(io.StringIO(read_file(path))))
    if not rows or list(rows[0]) != BULK_COLUMNS:
        raise BadInput(
            f"--from-file must be a CSV with the header {','.join(BULK_COLUMNS)} and one OA a line"
        )
    seen: set[str] = set()
    for number, row in enumerate(rows, 2):
        values = {k: (v or "").strip() for k, v in row.items() if k is not None}
        _check_entry(
            values["oa_id"],
            values["app_id"],
            values["unit_id"],
            values["parent_unit_id"] or None,
            f"line {number}: ",
        )
        if values["oa_id"] in seen:
            raise BadInput(f"line {number}: OA {values['oa_id']} is listed twice")
        seen.add(values["oa_id"])
    prefix = get_settings().app_secret_prefix
    without = []
    for app_id in sorted({row["app_id"].strip() for row in rows}):
        try:
            secrets.secret_json(prefix + app_id, cache_seconds=0)
        except Exception:
            without.append(app_id)
    if without:
        raise BadInput(
            f"apps without stored secrets (register one OA of each with --secrets-file): {', '.join(without)}"
        )
    table = wiring.table()
    counts: Counter[str] = Counter()
    for row in rows:
        values = {k: (v or "").strip() for k, v in row.items() if k is not None}
        existing = table.get_oa(values["oa_id"])
        table.put_oa(
            OaAccount(
                oa_id=values["oa_id"],
                app_id=values["app_id"],
                unit_id=values["unit_id"],
                unit_name=values["unit_name"] or (existing.unit_name if existing else ""),
                parent_unit_id=values["parent_unit_id"] or (existing.parent_unit_id if existing else None),
                menu=existing.menu if existing else {},
                disabled=existing.disabled if existing else False,
            )
        )
        counts["updated" if existing else "registered"] += 1
    print(f"{len(rows)} OA(s) from {path}: {counts['registered']} registered, {counts['updated']} updated")
    return 0


def register_oa(args: argparse.Namespace) -> int:
    """Create or update one OA: the registry entry, and its app's secrets when given."""
    if args.from_file:
        if any(v is not None for v in (args.oa, args.app_id, args.unit_id, args.secrets_file)):
            raise BadInput(
                "--from-file takes every OA from the file: no --oa, --app-id, --unit-id, --secrets-file"
            )
        return register_many(args.from_file)
    if args.oa is None or args.app_id is None or args.unit_id is None:
        raise BadInput("give --oa, --app-id and --unit-id (or --from-file for many OAs)")
    _check_entry(args.oa, args.app_id, args.unit_id, args.parent_unit_id)
    app_secrets = _read_app_secrets(args.secrets_file) if args.secrets_file else None
    settings = get_settings()
    secret_id = settings.app_secret_prefix + args.app_id
    if app_secrets is None and not secrets.secret_exists(secret_id):
        raise BadInput(
            f"app {args.app_id} has no secrets yet: pass --secrets-file with oa_secret_key and app_secret"
        )
    table = wiring.table()
    existing = table.get_oa(args.oa)
    account = OaAccount(
        oa_id=args.oa,
        app_id=args.app_id,
        unit_id=args.unit_id,
        unit_name=args.unit_name if args.unit_name is not None else (existing.unit_name if existing else ""),
        parent_unit_id=args.parent_unit_id
        if args.parent_unit_id is not None
        else (existing.parent_unit_id if existing else None),
        menu=existing.menu if existing else {},
        disabled=existing.disabled if existing else False,  # only disable-oa/enable-oa change it
    )
    if app_secrets is not None:
        secrets.put_secret_json(secret_id, app_secrets, settings.kms_key_id)
    table.put_oa(account)
    verb = "updated" if existing else "registered"
    print(
        f"OA {args.oa} {verb}: app {args.app_id}, unit {args.unit_id}"
        + (", secrets stored" if app_secrets else "")
    )
    return 0


def rotate_oa_secret(args: argparse.Namespace) -> int:
    """Replace one or both of an app's secrets, keeping the other; say when it takes effect."""
    if not _ZALO_ID.match(args.app_id):
        raise BadInput("--app-id must be Zalo's numeric id (digits only)")
    source = sys.stdin.read() if args.secrets_file == "-" else read_file(args.secrets_file)
    try:
        change = json.loads(source)
    except json.JSONDecodeError as exc:
        raise BadInput("--secrets-file is not JSON") from exc
    names = {"oa_secret_key", "app_secret"}
    if not isinstance(change, dict) or not change or not set(change) <= names:
        raise BadInput(
            '--secrets-file must be {"oa_secret_key": "..."} and/or {"app_secret": "..."}, nothing else'
        )
    if not all(isinstance(v, str) and v.strip() for v in change.values()):
        raise BadInput("--secrets-file: the new secrets must be non-empty strings")
    settings = get_settings()
    secret_id = settings.app_secret_prefix + args.app_id
    try:
        stored = secrets.secret_json(secret_id, cache_seconds=0)
    except Exception as exc:
        raise BadInput(f"app {args.app_id} has no secrets yet: use register-oa --secrets-file") from exc
    secrets.put_secret_json(
        secret_id, {**stored, **{k: str(v) for k, v in change.items()}}, settings.kms_key_id
    )
    seconds = int(settings.secret_cache_seconds)
    kept = names - set(change)
    print(
        f"app {args.app_id}: {', '.join(sorted(change))} replaced ({', '.join(sorted(kept)) or 'nothing'}"
        f" kept). Takes effect within {seconds} s: warm functions cache app secrets that long, so"
        f" webhooks signed with the new key may get 401 (Zalo retries them) until then."
    )
    return 0


def _read_app_secrets(path: str) -> dict[str, str]:
    source = sys.stdin.read() if path == "-" else read_file(path)
    try:
        value = json.loads(source)
    except json.JSONDecodeError as exc:
        raise BadInput("--secrets-file is not JSON") from exc
    if not isinstance(value, dict) or set(value) != {"oa_secret_key", "app_secret"}:
        raise BadInput(
            '--secrets-file must be {"oa_secret_key": "...", "app_secret": "..."} and nothing else'
        )
    if not all(isinstance(v, str) and v.strip() for v in value.values()):
        raise BadInput("--secrets-file: both secrets must be non-empty strings")
    return {key: str(v) for key, v in value.items()}


def read_file(path: str) -> str:
    try:
        return Path(path).read_text("utf-8")
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}") from exc


# ------------------------------------------------------------------------------ purge-citizen
def purge_citizen(args: argparse.Namespace) -> int:
    """Erase one citizen's personal data (right to erasure): sealed messages, sealed user id, evidence."""
    if not _ZALO_ID.match(args.oa):
        raise BadInput("--oa must be Zalo's numeric OA id")
    user_id = _read_user_id(args.user_id)
    if not _ZALO_ID.match(user_id):
        raise BadInput("the user id must be Zalo's numeric user id (digits only)")
    table = wiring.table()
    if table.get_oa(args.oa) is None:
        raise BadInput(f"OA {args.oa} is not registered")
    handle = pseudonym(wiring.pepper(), args.oa, user_id)
    if table.get_contact(handle) is None:
        raise BadInput(f"no citizen with that user id on OA {args.oa}; nothing changed")
    if not args.yes:
        raise BadInput(f"this erases citizen {short_pseudonym(handle)}'s data for good: add --yes")
    erased = erase_citizen(wiring.intake(), handle)
    citizen = short_pseudonym(handle)
    print(f"citizen {citizen} of OA {args.oa}: {erased} sealed entries erased, evidence purge requested")
    return 0


def _read_user_id(value: str | None) -> str:
    if value is None or value == "-":
        text = sys.stdin.readline() if not sys.stdin.isatty() else getpass.getpass("Zalo user id: ")
        return text.strip()
    return value.strip()


# ------------------------------------------------------------------------------ export-stats
def export_stats(args: argparse.Namespace) -> int:
    """Tip counts per unit and status (and urgent), from the tips index. Counts only."""
    table = wiring.table()
    counts: Counter[tuple[str, str]] = Counter()
    urgent: Counter[tuple[str, str]] = Counter()
    for item in table.tip_facts():
        key = (str(item.get("unit_id", "")), str(item.get("status", "")))
        counts[key] += 1
        urgent[key] += int(bool(item.get("urgent")))
    rows = [
        {"unit_id": unit, "status": status, "tips": counts[(unit, status)], "urgent": urgent[(unit, status)]}
        for unit, status in sorted(counts)
    ]
    if args.format == "json":
        print(json.dumps({"generated_at": int(clock.now_s()), "rows": rows}, indent=1))
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, fieldnames=["unit_id", "status", "tips", "urgent"], lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(buffer.getvalue())
    return 0


# ------------------------------------------------------------------------------ watch-oa
def watch_oa(args: argparse.Namespace) -> int:
    """A CloudWatch alarm that fires when one OA has had no accepted event for --hours."""
    if not _ZALO_ID.match(args.oa):
        raise BadInput("--oa must be Zalo's numeric OA id")
    if not 1 <= args.hours <= 168:
        raise BadInput("--hours must be between 1 and 168 (CloudWatch evaluates at most 7 days)")
    topic = args.topic_arn or os.environ.get("ALARM_TOPIC_ARN", "")
    if not topic.startswith("arn:"):
        raise BadInput("--topic-arn (or ALARM_TOPIC_ARN) must be the stack's AlarmTopicArn output")
    if wiring.table().get_oa(args.oa) is None:
        raise BadInput(f"OA {args.oa} is not registered")
    name = oa_alarm_name(get_settings().stage, args.oa)
    boto3.client("cloudwatch").put_metric_alarm(
        AlarmName=name,
        AlarmDescription=f"OA {args.oa} has accepted no Zalo event for {args.hours} h. {WATCH_RUNBOOK}",
        Namespace=NAMESPACE,
        MetricName="OaEvents",
        Dimensions=[{"Name": "service", "Value": SERVICE}, {"Name": "oa_id", "Value": args.oa}],
        Statistic="Sum",
        Period=3600,
        EvaluationPeriods=args.hours,
        Threshold=1,
        ComparisonOperator="LessThanThreshold",
        TreatMissingData="breaching",
        AlarmActions=[topic],
        OKActions=[topic],
    )
    print(f"alarm {name}: OA {args.oa} silent for {args.hours} h notifies {topic}")
    return 0


WATCH_RUNBOOK = 'Runbook: docs/operations.md "The webhook is failing or silent"'


def oa_alarm_name(stage: str, oa_id: str) -> str:
    return f"tipline-{stage}-oa-{oa_id}-silent"


# ------------------------------------------------------------------------------ wiring
def register(subcommands: Any) -> None:
    """Add this module's subcommands to tipline-ops's argparse subparsers."""
    command = subcommands.add_parser("register-oa", help="register or update an OA (and its app's secrets)")
    command.add_argument("--oa", help="Zalo OA id")
    command.add_argument("--app-id", help="Zalo app id that delivers the OA's events")
    command.add_argument("--unit-id", help="unit that owns the OA's tips")
    command.add_argument(
        "--from-file", help=f"CSV ({','.join(BULK_COLUMNS)}) of many OAs; checked before any is written"
    )
    command.add_argument("--unit-name")
    command.add_argument("--parent-unit-id")
    command.add_argument(
        "--secrets-file", help='JSON {"oa_secret_key", "app_secret"} ("-" = stdin); never on the command line'
    )
    command.set_defaults(run=register_oa)

    command = subcommands.add_parser(
        "rotate-oa-secret", help="replace an app's OA secret key and/or app secret, keeping the other"
    )
    command.add_argument("--app-id", required=True, help="Zalo app id whose secrets change")
    command.add_argument(
        "--secrets-file", required=True, help='JSON {"oa_secret_key"} and/or {"app_secret"} ("-" = stdin)'
    )
    command.set_defaults(run=rotate_oa_secret)

    command = subcommands.add_parser("purge-citizen", help="erase one citizen's personal data")
    command.add_argument("--oa", required=True, help="Zalo OA id the citizen wrote to")
    command.add_argument(
        "--user-id", help="Zalo user id; omit or '-' to read it from stdin (keeps it out of history)"
    )
    command.add_argument("--yes", action="store_true", help="confirm: the erasure cannot be undone")
    command.set_defaults(run=purge_citizen)

    command = subcommands.add_parser("export-stats", help="tip counts per unit and status (no personal data)")
    command.add_argument("--format", choices=["csv", "json"], default="csv")
    command.set_defaults(run=export_stats)

    command = subcommands.add_parser("watch-oa", help="alarm when one OA receives no event for some hours")
    command.add_argument("--oa", required=True)
    command.add_argument("--hours", type=int, default=24)
    command.add_argument("--topic-arn", help="the stack's AlarmTopicArn output (or ALARM_TOPIC_ARN)")
    command.set_defaults(run=watch_oa)
