"""tipline-ops: the operations command line (docs/operations.md has the runbooks).

    tipline-ops [--stack NAME | --local [URL]] COMMAND ...

Without --stack the commands use the environment (the local stack's, or exported values); with
--stack they read the deployed webhook function's configuration. Bad input exits 2, changing nothing;
an AWS problem (no region or credentials, an expired session, access denied) exits 1 with one line.
"""

from __future__ import annotations

import argparse
import os
import sys

from botocore import exceptions as aws

from tipline_ops import advisories, commands, dead_letters, fleet, people, tokens

LOCAL_STACK_URL = f"http://127.0.0.1:{os.environ.get('TIPLINE_PORT', '3000')}"
# Exit status 1 for an AWS problem (region, credentials, session, permissions): one line, no traceback.
AWS_PROBLEM = 1
_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException"}
_INVALID_CREDENTIALS = {"InvalidClientTokenId", "SignatureDoesNotMatch", "InvalidSignatureException"}
_RENEW = "renew it (aws sso login, or new temporary credentials) and run the command again"


def aws_problem(exc: Exception) -> str | None:
    """The one-line message for an AWS failure an operator fixes in their shell, or None."""
    if isinstance(exc, aws.NoRegionError):
        return "no AWS region: export AWS_REGION=ap-southeast-1 (or set region in ~/.aws/config)"
    if isinstance(exc, aws.NoCredentialsError | aws.PartialCredentialsError):
        return "no AWS credentials: export AWS_PROFILE=... (or run aws configure / aws sso login)"
    if isinstance(exc, aws.TokenRetrievalError | aws.SSOTokenLoadError | aws.UnauthorizedSSOTokenError):
        return f"the AWS SSO session has expired: {_RENEW}"
    if isinstance(exc, aws.EndpointConnectionError):
        where = exc.kwargs.get("endpoint_url", "?")
        return f"cannot reach AWS at {where} (network, or a wrong region/endpoint)"
    if isinstance(exc, aws.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        operation = exc.operation_name
        if code in _EXPIRED:
            return f"the AWS session has expired ({operation}): {_RENEW}"
        if code in _DENIED:
            return f"access denied: your AWS identity may not call {operation} ({code}); use the ops role"
        if code in _INVALID_CREDENTIALS:
            return f"the AWS credentials are not valid ({code}): check AWS_PROFILE / the access key"
    return None


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="tipline-ops", description="Zalo Tipline operations")
    where = root.add_mutually_exclusive_group()
    where.add_argument("--stack", help="CloudFormation stack to operate on (e.g. tipline-prod)")
    where.add_argument(
        "--local",
        nargs="?",
        const=LOCAL_STACK_URL,
        metavar="URL",
        help=f"operate on the local stack of `make dev` (default {LOCAL_STACK_URL}) to practise a runbook",
    )
    subcommands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.register(subcommands)
    dead_letters.register(subcommands)
    tokens.register(subcommands)
    advisories.register(subcommands)
    fleet.register(subcommands)
    people.register(subcommands)
    return root


def _local_default(argv: list[str], commands_known: set[str]) -> list[str]:
    """`--local COMMAND` as the runbooks write it: argparse would take the command for --local's
    URL, so a bare --local before a command gets the default address."""
    if "--local" in argv:
        at = argv.index("--local")
        if at + 1 < len(argv) and argv[at + 1] in commands_known:
            return [*argv[: at + 1], LOCAL_STACK_URL, *argv[at + 1 :]]
    return argv


def main(argv: list[str] | None = None) -> int:
    root = parser()
    subcommands = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    argv = _local_default(sys.argv[1:] if argv is None else argv, set(subcommands.choices))
    args = root.parse_args(argv)
    try:
        if args.stack:
            commands.load_stack_env(args.stack)
        elif args.local:
            commands.load_local_env(args.local)
        return int(args.run(args))
    except commands.BadInput as bad:
        print(f"tipline-ops {args.command}: {bad}", file=sys.stderr)
        return 2
    except Exception as exc:
        message = aws_problem(exc)
        if message is None:
            raise
        print(f"tipline-ops {args.command}: {message}", file=sys.stderr)
        return AWS_PROBLEM


if __name__ == "__main__":
    sys.exit(main())
