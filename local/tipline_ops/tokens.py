"""`tipline-ops` commands for replies and OA tokens: redrive, store-tokens, exchange-code, token-health.

Same rules as tipline_ops.commands: the functions' configuration (environment or --stack),
bad input exits 2 with a message and changes nothing, and no token, secret or citizen data is
ever printed (token health shows expiry, refreshes and failures only).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import secrets as secrets_module
import sys
import urllib.parse
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
from tipline import clock, wiring
from tipline.adapters import secrets, zalo
from tipline.config import get_settings
from tipline.errors import TiplineError
from tipline.tokens.store import health

from tipline_ops.commands import QUEUES, BadInput, read_file
from tipline_ops.dead_letters import (
    MAX_REDRIVES,
    REDRIVES,
    dead_letter_queue_url,
    redrives_of,
    sample_dead_letters,
)

_ZALO_ID = re.compile(r"^[0-9]{1,32}$")
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636


# ------------------------------------------------------------------------------ redrive
def redrive(args: argparse.Namespace) -> int:
    """Move a queue's dead-letter messages back to it (after the cause was fixed).

    FIFO messages keep their message group (so a citizen's replies stay in order) and get a new
    deduplication id (SQS would drop a copy of a recently seen one). The consumers are idempotent: a
    reply already sent is not sent again. Each moved message carries a ``redrives`` count; one that
    comes back after MAX_REDRIVES redrives is parked (left in the DLQ, listed) instead of looping:
    a person must look at it (``--include-returned`` moves it anyway). ``--dry-run`` moves nothing.
    """
    if args.limit is not None and not 1 <= args.limit <= 100_000:
        raise BadInput("--limit must be between 1 and 100000")
    source = str(getattr(get_settings(), QUEUES[args.queue]))
    dlq = dead_letter_queue_url(args.queue)
    sqs = boto3.client("sqs")
    moved = 0
    left: list[dict[str, Any]] = []  # held invisible: parked, or listed by --dry-run
    verb = "would move" if args.dry_run else "moved"
    while args.limit is None or moved < args.limit:
        batch = sample_dead_letters(dlq, 10 if args.limit is None else min(10, args.limit - moved))
        if not batch:
            break
        for message in batch:
            redrives = redrives_of(message)
            if redrives >= MAX_REDRIVES and not args.include_returned:
                print(f"  parked {message['MessageId']}: came back after {redrives} redrive(s)")
                left.append(message)
            elif args.dry_run:
                print(f"  {verb} {message['MessageId']} (redrives so far: {redrives})")
                left.append(message)
                moved += 1
            else:
                _move_back(message, source, dlq, redrives)
                print(f"  {verb} {message['MessageId']}")
                moved += 1
    for message in left:  # visible again at once
        sqs.change_message_visibility(
            QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    parked = len(left) - (moved if args.dry_run else 0)
    print(
        f"{args.queue}: {moved} message(s) {verb} back from the dead-letter queue"
        + (
            f"; {parked} parked (came back before: dlq-inspect, fix, then --include-returned)"
            if parked
            else ""
        )
    )
    return 0


def _move_back(message: dict[str, Any], source: str, dlq: str, redrives: int) -> None:
    """Send one dead letter back to its queue, counting the redrive, then delete it from the DLQ."""
    sqs = boto3.client("sqs")
    kept = {
        name: {"DataType": value["DataType"], "StringValue": value["StringValue"]}
        for name, value in message.get("MessageAttributes", {}).items()
        if "StringValue" in value
    }
    kept[REDRIVES] = {"DataType": "Number", "StringValue": str(redrives + 1)}
    kwargs: dict[str, Any] = {"QueueUrl": source, "MessageBody": message["Body"], "MessageAttributes": kept}
    if source.endswith(".fifo"):
        kwargs["MessageGroupId"] = message.get("Attributes", {}).get("MessageGroupId", "redriven")
        kwargs["MessageDeduplicationId"] = f"redrive-{uuid.uuid4().hex}"
    sqs.send_message(**kwargs)
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])


# ------------------------------------------------------------------------------ tokens
def _oa(oa_id: str) -> tuple[str, str]:
    """The OA's app id and app secret; BadInput when it is not registered."""
    if not _ZALO_ID.match(oa_id):
        raise BadInput("--oa must be Zalo's numeric OA id")
    settings = get_settings()
    account = wiring.table().get_oa(oa_id)
    if account is None:
        raise BadInput(f"OA {oa_id} is not registered: run register-oa first")
    try:
        app = secrets.secret_json(settings.app_secret_prefix + account.app_id, cache_seconds=0)
    except TiplineError as exc:
        raise BadInput(f"app {account.app_id} has no secrets: run register-oa with --secrets-file") from exc
    app_secret = app.get("app_secret")
    if not isinstance(app_secret, str) or not app_secret:
        raise BadInput(f"app {account.app_id} has no app_secret")
    return account.app_id, app_secret


def _read_json(path: str, what: str) -> dict[str, Any]:
    source = sys.stdin.read() if path == "-" else read_file(path)
    try:
        value = json.loads(source)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{what} is not JSON") from exc
    if not isinstance(value, dict):
        raise BadInput(f"{what} must be a JSON object")
    return value


def store_tokens(args: argparse.Namespace) -> int:
    """Store an OA's first tokens from a file (as shown once in Zalo's developer console)."""
    _oa(args.oa)
    value = _read_json(args.tokens_file, "--tokens-file")
    if set(value) - {"access_token", "refresh_token", "expires_in"} or not {
        "access_token",
        "refresh_token",
    } <= set(value):
        raise BadInput('--tokens-file must be {"access_token", "refresh_token"[, "expires_in"]}, no more')
    access, refresh = value["access_token"], value["refresh_token"]
    if not all(isinstance(v, str) and v.strip() for v in (access, refresh)):
        raise BadInput("--tokens-file: both tokens must be non-empty strings")
    try:
        expires_in = int(value.get("expires_in", 25 * 3600))
    except (TypeError, ValueError) as exc:
        raise BadInput("--tokens-file: expires_in must be a number of seconds") from exc
    if not 60 <= expires_in <= 25 * 3600:
        raise BadInput("--tokens-file: expires_in must be between 60 and 90000 seconds")
    token = wiring.token_store().save(args.oa, zalo.TokenPair(access, refresh, expires_in))
    print(f"OA {args.oa}: tokens stored (version {token.version}, expires {_when(token.expires_at_ms)})")
    return 0


def exchange_code(args: argparse.Namespace) -> int:
    """Exchange an OA admin's authorization code (PKCE) for the OA's first tokens, and store them."""
    app_id, app_secret = _oa(args.oa)
    code = _checked_code(args.code)
    verifier = _read_secret_line(args.code_verifier_file, "--code-verifier-file")
    if not _VERIFIER.match(verifier):
        raise BadInput("the code verifier must be 43-128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636)")
    return _exchange_and_store(args.oa, app_id, app_secret, code, verifier, "exchange-code")


def _checked_code(value: str) -> str:
    code = value.strip()
    if not code or len(code) > 2048 or any(c.isspace() for c in code):
        raise BadInput("the authorization code must be the code from the redirect (no spaces)")
    return code


def _exchange_and_store(oa_id: str, app_id: str, app_secret: str, code: str, verifier: str, what: str) -> int:
    try:
        pair = zalo.exchange_code(app_id, app_secret, code, verifier)
    except zalo.OAuthRefused as exc:
        raise BadInput(f"{exc.reason}; ask the OA admin to authorise the app again") from exc
    except zalo.ZaloError as exc:
        print(f"tipline-ops {what}: {exc.reason}; nothing stored, try again", file=sys.stderr)
        return 1
    token = wiring.token_store().save(oa_id, pair)
    print(f"OA {oa_id}: first tokens stored (version {token.version}, expires {_when(token.expires_at_ms)})")
    return 0


# Zalo's OAuth v4 page where an OA admin grants the app access to the OA (PKCE, S256).
PERMISSION_PATH = "/v4/oa/permission"


def authorisation_link(app_id: str, redirect_uri: str, challenge: str, state: str) -> str:
    query = urllib.parse.urlencode(
        {"app_id": app_id, "redirect_uri": redirect_uri, "code_challenge": challenge, "state": state}
    )
    return f"{get_settings().zalo_oauth_base_url.rstrip('/')}{PERMISSION_PATH}?{query}"


def _code_from(pasted: str, oa_id: str, state: str) -> str:
    """The code from what the admin pasted: the code itself, or the whole redirect URL (whose
    state and OA must be this session's)."""
    text = pasted.strip()
    if not text.startswith(("http://", "https://")):
        return _checked_code(text)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(text).query)
    if query.get("state", [state])[0] != state:
        raise BadInput("the redirect's state is not this session's: use the link printed above")
    if query.get("oa_id", [oa_id])[0] != oa_id:
        raise BadInput(f"the redirect is for another OA, not {oa_id}: its admin must open the link")
    codes = query.get("code", [])
    if not codes:
        raise BadInput("the redirect URL has no code= (was access denied?)")
    return _checked_code(codes[0])


def connect_oa(args: argparse.Namespace) -> int:
    """Print the OAuth v4 link (PKCE) for the OA's admin, take the code back, store the tokens."""
    app_id, app_secret = _oa(args.oa)
    if not args.redirect_uri.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise BadInput("--redirect-uri must be the app's callback URL registered with Zalo (https)")
    verifier = secrets_module.token_urlsafe(48)  # 64 characters; kept in this process only
    state = secrets_module.token_urlsafe(12)
    print(f"1. The admin of OA {args.oa}, signed in to Zalo, opens:")
    print(f"   {authorisation_link(app_id, args.redirect_uri, code_challenge(verifier), state)}")
    print("2. After they allow the app, Zalo sends them to the redirect URI with ?code=...")
    print("3. Paste the code, or the whole redirect URL, here (within 10 minutes):", flush=True)
    pasted = sys.stdin.readline()
    if not pasted.strip():
        raise BadInput("no code pasted; nothing stored (run connect-oa again for a new link)")
    return _exchange_and_store(
        args.oa, app_id, app_secret, _code_from(pasted, args.oa, state), verifier, "connect-oa"
    )


def _read_secret_line(path: str | None, what: str) -> str:
    if path in (None, "-"):
        return sys.stdin.readline().strip()
    return read_file(path).strip()


def code_challenge(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier (for the OA admin's authorisation link)."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _when(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


UNHEALTHY_TOKEN_STATES = frozenset({"missing", "expired", "failing"})


def token_health(args: argparse.Namespace) -> int:
    """Per OA: state, expiry, last refresh, failures. Never a token value.

    Exits 1 when any OA's token is missing, expired or failing to refresh, 0 otherwise.
    """
    if args.oa is not None and not _ZALO_ID.match(args.oa):
        raise BadInput("--oa must be Zalo's numeric OA id")
    oa_ids = [args.oa] if args.oa else [account.oa_id for account in wiring.table().list_oas()]
    rows = health(wiring.token_store(), oa_ids)
    unhealthy = [row["oa_id"] for row in rows if row["state"] in UNHEALTHY_TOKEN_STATES]
    status = 1 if unhealthy else 0  # scripts and monitors can act on the exit status alone
    if args.json:
        print(json.dumps({"checked_at_ms": clock.now_ms(), "oas": rows}, indent=1))
        return status
    for row in rows:
        if row["state"] == "missing":
            print(f"{row['oa_id']}  missing  (no token stored: exchange-code or store-tokens)")
            continue
        print(
            f"{row['oa_id']}  {row['state']:<8} expires {_when(row['expires_at_ms'])}"
            f" ({row['seconds_left']}s)  refreshed {_when(row['refreshed_at_ms'])}"
            f"  refreshes={row['refreshes']}  failures={row['failures']}"
            + (
                f"  last failure {_when(row['last_failure_ms'])}: {row['last_failure']}"
                if row["failures"]
                else ""
            )
        )
    if unhealthy:
        print(f"{len(unhealthy)} OA(s) without a working token: {', '.join(unhealthy)}", file=sys.stderr)
    return status


# ------------------------------------------------------------------------------ wiring
def register(subcommands: Any) -> None:
    """Add this module's subcommands to tipline-ops's argparse subparsers."""
    command = subcommands.add_parser("redrive", help="move a queue's dead-letter messages back to it")
    command.add_argument("--queue", choices=sorted(QUEUES), default="replies")
    command.add_argument("--limit", type=int, help="at most this many (default: all)")
    command.add_argument("--dry-run", action="store_true", help="list what would move; move nothing")
    command.add_argument(
        "--include-returned",
        action="store_true",
        help=f"also move messages that came back after {MAX_REDRIVES} redrive(s) (parked otherwise)",
    )
    command.set_defaults(run=redrive)

    command = subcommands.add_parser("store-tokens", help="store an OA's first tokens from a file")
    command.add_argument("--oa", required=True, help="Zalo OA id (registered)")
    command.add_argument(
        "--tokens-file",
        required=True,
        help='JSON {"access_token", "refresh_token", "expires_in"?} ("-" = stdin)',
    )
    command.set_defaults(run=store_tokens)

    command = subcommands.add_parser(
        "exchange-code", help="exchange an authorization code (PKCE) for an OA's first tokens"
    )
    command.add_argument("--oa", required=True, help="Zalo OA id (registered)")
    command.add_argument("--code", required=True, help="the code from the authorisation redirect")
    command.add_argument(
        "--code-verifier-file", help="file holding the PKCE code verifier (default: read one line from stdin)"
    )
    command.set_defaults(run=exchange_code)

    command = subcommands.add_parser(
        "connect-oa", help="an OA's first tokens: the OAuth v4 link (PKCE) for its admin, then the code"
    )
    command.add_argument("--oa", required=True, help="Zalo OA id (registered)")
    command.add_argument(
        "--redirect-uri", required=True, help="the app's callback URL, as set in the Zalo developer console"
    )
    command.set_defaults(run=connect_oa)

    command = subcommands.add_parser("token-health", help="each OA's token expiry, refreshes and failures")
    command.add_argument("--oa", help="one OA (default: every registered OA)")
    command.add_argument("--json", action="store_true")
    command.set_defaults(run=token_health)
