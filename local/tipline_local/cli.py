"""tipline-local: run the local stack, issue local officer tokens."""

from __future__ import annotations

import argparse
import os
import sys

from tipline_local import auth


def _serve(args: argparse.Namespace) -> int:
    from tipline_local.stack import LocalStack

    port = int(os.environ.get("TIPLINE_PORT", args.port))
    stack = LocalStack(port=port)
    seconds = stack.start()
    print(
        f"Zalo Tipline local stack ready in {seconds:.1f} s\n"
        f"  webhook      POST {stack.url}/webhooks/zalo\n"
        f"  officer API  {stack.url}/v1   (token: tipline-local token --unit UNIT --role officer)\n"
        f"  Zalo (sim)   {stack.zalo_url}\n"
        f"  AWS (moto)   {stack.aws_endpoint}\n"
        f"  health       {stack.url}/healthz   ·   Ctrl-C stops everything",
        flush=True,
    )
    stack.run_forever()
    print("stopped", flush=True)
    return 0


def _token(args: argparse.Namespace) -> int:
    print(auth.issue_token(args.unit, args.role, subject=args.subject, expires_in=args.expires_in))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tipline-local", description="Zalo Tipline on one machine")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the whole system locally (make dev)")
    serve.add_argument(
        "--port", type=int, default=3000, help="HTTP port (TIPLINE_PORT wins; 0: any free port)"
    )
    serve.set_defaults(run=_serve)
    token = commands.add_parser("token", help="print a bearer token the local officer API accepts")
    token.add_argument("--unit", required=True, help="the officer's unit id")
    token.add_argument("--role", choices=auth.ROLES, default="officer")
    token.add_argument("--subject", default="officer-1", help="who the officer is (audit records name them)")
    token.add_argument("--expires-in", type=int, default=3600, help="seconds")
    token.set_defaults(run=_token)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
