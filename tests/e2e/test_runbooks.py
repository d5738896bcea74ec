"""docs/operations.md, walked end to end: every `tipline-ops --stack tipline-prod ...` command of the
runbooks, in the order the document gives them, run with `--local` against a started local stack
(`make dev`), as an on-call engineer practising would.

What the local stack cannot do, and so is not run here (each named in NOT_LOCAL below):
- the `aws` and `sam` steps (deploy, stack outputs, KMS, PITR, CloudFormation): no AWS account;
- `add-officer` / `add-commander`: the local stack has no Cognito user pool (they are tested against
  moto's Cognito in tests/handlers/test_ops_onboarding.py);
- `watch-oa` looks its topic up with `aws cloudformation describe-stacks`: a topic ARN stands in.

Placeholders are filled as a person would: the example OA and app become the demo OA and app, files
are written with the demo app's secrets, an advisory's id is the one `advisory create` printed, and
the example dates become dates after today (no test depends on today's date).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fixtures.local_stack import OA, ROOT, StackProcess
from tipline import clock
from tipline.zalo_rules import VIETNAM
from tipline_local.accounts import demo_accounts

RUNBOOKS = ROOT / "docs" / "operations.md"
COMMAND = re.compile(r"tipline-ops --stack tipline-prod ((?:[^\n`\\]|\\\n)+)")
# Commands of the runbooks the local stack cannot run, and why (the test fails if this list is stale).
NOT_LOCAL = {
    "add-officer": "the local stack has no Cognito user pool (tests/handlers/test_ops_onboarding.py)",
    "add-commander": "the local stack has no Cognito user pool (tests/handlers/test_ops_onboarding.py)",
}
DOC_OA, DOC_APP = "4290067144263701", "3608465249409039"
TOPIC = "arn:aws:sns:ap-southeast-1:123456789012:tipline-local-alarms"


def runbook_commands() -> list[list[str]]:
    """Every `tipline-ops --stack tipline-prod` command of the document, in order, as argv (comments
    and output redirections dropped); the generic `COMMAND`, `...` of the introduction are not commands."""
    found = []
    for match in COMMAND.finditer(RUNBOOKS.read_text("utf-8")):
        text = match.group(1).replace("\\\n", " ")
        text = re.sub(r'"\$\(aws [^)]*\)[^"]*"', TOPIC, text, flags=re.S)  # watch-oa's topic lookup
        argv = shlex.split(text, comments=True)
        if ">" in argv:
            argv = argv[: argv.index(">")]
        if argv and argv[0] not in ("COMMAND", "..."):  # the introduction's generic forms
            found.append(argv)
    return found


class Operator:
    """Runs each runbook command with --local, filling its placeholders."""

    def __init__(self, stack: StackProcess, tmp: Path) -> None:
        self.stack, self.tmp = stack, tmp
        self.account = next(a for a in demo_accounts() if a.oa_id == OA)
        self.advisory_id = ""
        self.files = {
            "/tmp/app.json": self._file(
                "app.json",
                {"oa_secret_key": self.account.oa_secret_key, "app_secret": self.account.app_secret},
            ),
            "/tmp/key.json": self._file("key.json", {"oa_secret_key": self.account.oa_secret_key}),
            "oas.csv": self._csv(),
        }

    def _file(self, name: str, value: dict[str, str]) -> str:
        path = self.tmp / name
        path.write_text(json.dumps(value), "utf-8")
        return str(path)

    def _csv(self) -> str:
        path = self.tmp / "oas.csv"
        a = self.account
        path.write_text(
            f"oa_id,app_id,unit_id,unit_name,parent_unit_id\n{a.oa_id},{a.app_id},{a.unit_id},,\n",
            "utf-8",
        )
        return str(path)

    def fill(self, argv: list[str]) -> list[str]:
        now = datetime.fromtimestamp(clock.now_s(), VIETNAM)
        values = {
            DOC_OA: OA,
            "OA_ID": OA,
            DOC_APP: self.account.app_id,
            "APP_ID": self.account.app_id,
            "ADVISORY_ID": self.advisory_id,
            **self.files,
        }
        filled = [values.get(arg, arg) for arg in argv]
        for i, arg in enumerate(filled[:-1]):
            nxt = filled[i + 1]
            if arg == "--at":
                filled[i + 1] = (now + timedelta(days=1)).strftime("%Y-%m-%dT08:00")
            elif arg == "--until":
                filled[i + 1] = (now + timedelta(days=30)).strftime("%Y-%m-%d")
            elif arg in ("--title", "--text") and nxt == "...":
                filled[i + 1] = "Cảnh báo lừa đảo" if arg == "--title" else "Không chuyển tiền cho người lạ."
        return filled

    def stdin_for(self, argv: list[str]) -> str:
        if argv[:2] == ["advisory", "create"] and "-" in argv:
            return "Không chuyển tiền cho người lạ.\n"
        if argv[0] == "purge-citizen":
            return CITIZEN + "\n"
        return ""

    def run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "tipline_ops.cli", "--local", self.stack.url, *argv]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        if argv[0] == "connect-oa":
            return self._connect(command, environment)
        return subprocess.run(
            command,
            input=self.stdin_for(argv),
            capture_output=True,
            text=True,
            timeout=120,
            env=environment,
            check=False,
        )

    def _connect(self, command: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """The OA admin opens the printed link and allows the app; the redirect URL is pasted."""
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
        assert process.stdout is not None and process.stdin is not None
        printed = []
        while not printed or "Paste the code" not in printed[-1]:
            line = process.stdout.readline()
            assert line, "connect-oa ended before asking for the code"
            printed.append(line)
        (link,) = re.findall(r"https?://\S+/v4/oa/permission\?\S+", "".join(printed))
        query = dict(httpx.QueryParams(httpx.URL(link).query))
        code = httpx.post(
            f"{self.stack.info['zalo']}/_sim/authorize",
            json={"oa_id": OA, "code_challenge": query["code_challenge"]},
            timeout=30,
        ).json()["code"]
        redirect = httpx.URL(
            query["redirect_uri"], params={"code": code, "oa_id": OA, "state": query["state"]}
        )
        out, err = process.communicate(f"{redirect}\n", timeout=120)
        return subprocess.CompletedProcess(command, process.returncode, "".join(printed) + out, err)


CITIZEN = "5512300000000777"


def test_every_runbook_command_runs_as_written_against_the_local_stack(
    running: StackProcess, tmp_path: Path
) -> None:
    running.citizen_says(CITIZEN, "Có người giả danh công an gọi điện")  # purge-citizen erases them
    operator = Operator(running, tmp_path)
    commands = runbook_commands()
    ran, skipped = [], set()
    for argv in commands:
        if argv[0] in NOT_LOCAL:
            skipped.add(argv[0])
            continue
        filled = operator.fill(argv)
        done = operator.run(filled)
        assert done.returncode == 0, (
            f"{shlex.join(filled)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
        if filled[:2] == ["advisory", "create"] and not operator.advisory_id:
            operator.advisory_id = re.findall(r"advisory ([0-9a-z]{8,})", done.stdout)[0]
        ran.append(filled[0] if filled[0] != "advisory" else " ".join(filled[:2]))
    assert skipped == set(NOT_LOCAL)  # each exception is still in the document, and no other
    assert set(ran) >= {
        "status",
        "disable-oa",
        "enable-oa",
        "register-oa",
        "watch-oa",
        "connect-oa",
        "token-health",
        "dlq-inspect",
        "redrive",
        "rotate-oa-secret",
        "advisory create",
        "advisory list",
        "advisory show",
        "advisory cancel",
        "advisory sync-followers",
        "purge-citizen",
        "export-stats",
    }
    # After the whole walk the demo OA still works: a citizen's message is accepted and answered.
    running.citizen_says("5512300000000888", "xin chào")
    assert running.sent_to("5512300000000888") or _eventually_sent(running, "5512300000000888")


def _eventually_sent(running: StackProcess, user_id: str) -> Any:
    from fixtures.local_stack import wait_for

    return wait_for(lambda: running.sent_to(user_id), 60, "the acknowledgement")
