"""tipline-ops: the operations command line (docs/operations.md has the runbooks).

    tipline-ops [--stack NAME] COMMAND ...

Without --stack the commands use the environment (the local stack's, or exported values); with
--stack they read the deployed webhook function's configuration. Bad input exits 2, changing nothing.
"""

from __future__ import annotations

import argparse
import sys

from tipline_ops import advisories, commands, tokens


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="tipline-ops", description="Zalo Tipline operations")
    root.add_argument("--stack", help="CloudFormation stack to operate on (e.g. tipline-prod)")
    subcommands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.register(subcommands)
    tokens.register(subcommands)
    advisories.register(subcommands)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.stack:
            commands.load_stack_env(args.stack)
        return int(args.run(args))
    except commands.BadInput as bad:
        print(f"tipline-ops {args.command}: {bad}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
