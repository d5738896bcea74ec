"""`tipline-ops add-officer` / `add-commander`: an officer's Cognito account, with their unit.

The user pool (stack output OfficerUserPoolId) allows only administrators to create users and
requires MFA: Cognito e-mails the person a temporary password, and at first sign-in they choose
their own and enrol an authenticator app (TOTP). The account carries ``custom:unit_id`` (the unit
whose tips they see) and one group: ``officer`` or ``commander`` (the provincial command).
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

import boto3

from tipline_ops.commands import _UNIT_ID, BadInput

GROUPS = {"add-officer": "officer", "add-commander": "commander"}
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,}$")
_POOL_ID = re.compile(r"^[\w-]+_[0-9A-Za-z]+$")


def user_pool_id(given: str | None) -> str:
    """--user-pool-id, else OFFICER_USER_POOL_ID (set by --stack from the stack's output)."""
    pool = given or os.environ.get("OFFICER_USER_POOL_ID", "")
    if not pool:
        raise BadInput("give --user-pool-id (the stack's OfficerUserPoolId output) or use --stack")
    if not _POOL_ID.match(pool):
        raise BadInput("--user-pool-id must look like ap-southeast-1_AbC123")
    return pool


def add_person(args: argparse.Namespace) -> int:
    group = GROUPS[args.command]
    email = args.email.strip().lower()
    if not _EMAIL.match(email):
        raise BadInput("--email must be the officer's e-mail address (their sign-in name)")
    if not _UNIT_ID.match(args.unit_id):
        raise BadInput("--unit-id: letters, digits, '_', '-', '.' (at most 64)")
    pool = user_pool_id(args.user_pool_id)
    cognito = boto3.client("cognito-idp")
    try:
        cognito.admin_create_user(
            UserPoolId=pool,
            Username=email,
            UserAttributes=[
                {"Name": "email", "Value": email},
                {"Name": "email_verified", "Value": "true"},
                {"Name": "custom:unit_id", "Value": args.unit_id},
            ],
            DesiredDeliveryMediums=["EMAIL"],
        )
    except cognito.exceptions.UsernameExistsException as exc:
        raise BadInput(f"{email} already has an account; nothing changed") from exc
    except cognito.exceptions.ResourceNotFoundException as exc:
        raise BadInput(f"no user pool {pool} in this account and region") from exc
    cognito.admin_add_user_to_group(UserPoolId=pool, Username=email, GroupName=group)
    print(
        f"{email}: {group} of unit {args.unit_id} created. Cognito e-mails a temporary password; at"
        " first sign-in they set their own and enrol an authenticator app (MFA is required)."
    )
    return 0


def register(subcommands: Any) -> None:
    """Add this module's subcommands to tipline-ops's argparse subparsers."""
    for name, group in GROUPS.items():
        command = subcommands.add_parser(
            name, help=f"create a {group}'s account (Cognito, custom:unit_id, group {group}, MFA)"
        )
        command.add_argument("--email", required=True, help="their e-mail address (the sign-in name)")
        command.add_argument("--unit-id", required=True, help="the unit whose tips they see")
        command.add_argument("--user-pool-id", help="default: the stack's OfficerUserPoolId (--stack)")
        command.set_defaults(run=add_person)
