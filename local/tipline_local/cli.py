"""tipline-local: run the local stack, issue local officer tokens."""

from __future__ import annotations

import argparse
import os
import sys

from tipline_local import auth


def _serve(args: argparse.Namespace) -> int:
    from tipline_local.accounts import AccountsError, load_accounts
    from tipline_local.stack import LocalStack, StopSignals

    try:
        accounts = load_accounts()  # a bad TIPLINE_ACCOUNTS stops here, before anything starts
    except AccountsError as exc:
        print(f"tipline-local: {exc}", file=sys.stderr)
        return 2
    signals = StopSignals()  # before anything starts: Ctrl-C during start-up stops it once it is up
    port = int(os.environ.get("TIPLINE_PORT", args.port))
    try:
        stack = LocalStack(port=port, accounts=accounts)
    except OSError as exc:
        print(f"tipline-local: cannot listen on 127.0.0.1:{port} ({exc.strerror}); set TIPLINE_PORT")
        return 2
    try:
        seconds = stack.start()
    except ValueError as exc:  # the template asks for something one process cannot give
        print(f"tipline-local: {exc}")
        stack.stop()
        return 2
    print(
        f"Zalo Tipline local stack ready in {seconds:.1f} s at {stack.url}\n"
        f"  console      {stack.url}/   (officers sign in here)\n"
        f"  webhook      POST {stack.url}/webhooks/zalo\n"
        f"  officer API  {stack.url}/v1   (token: tipline-local token --unit UNIT --role officer)\n"
        f"  Zalo (sim)   {stack.zalo_url}   (citizens: POST /_sim/citizen, what they got: GET /_sim/sent)\n"
        f"  AWS (moto)   {stack.aws_endpoint}\n"
        f"  health       {stack.url}/healthz   ·   Ctrl-C stops everything",
        flush=True,
    )
    left = stack.run_forever(signals)
    if left:
        print(f"stopped, but these threads were still running: {', '.join(left)}", flush=True)
        return 1
    print("stopped", flush=True)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from tipline_local import demo

    return demo.main()


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
    demo = commands.add_parser("demo", help="with the stack running: a scripted scenario (make demo)")
    demo.set_defaults(run=_demo)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
