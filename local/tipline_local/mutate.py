"""`make mutate`: mutation testing of the core with mutmut, and the score of each core module.

Each module of ``MODULES`` is run on its own, in ``.mutate/<module>/`` (not in git): its files are
mutated, and each mutant is tested by the tests of the module's selection that called the mutated
function (mutmut records which test calls which function in a first, clean run). A selection holds
unit and handler tests only, never the local stack or the browser, so a module takes minutes.

mutmut names a mutant after its module, derived from the file's path with a leading ``src/`` taken
off; our package lives in ``functions/``, so each stage links ``src`` to it (and the files the tests
read beside it), and gets a ``pyproject.toml`` that is ours plus the module's ``[tool.mutmut]``.

``ACCEPTED`` lists survivors that are equivalent or accepted; docs/testing.md gives the reason for
each. A module's score is (killed + timeouts + accepted) / mutants, and the run fails when any
module is below ``THRESHOLD``.

    python -m tipline_local.mutate                 # every module, one after the other
    python -m tipline_local.mutate signature gate  # some of them (make mutate MODULES="...")

A later run tries again only what was not killed (rm -rf .mutate for a run from scratch).
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
STAGES = ROOT / ".mutate"
LINKS = {"src": "functions", "tests": "tests", "local": "local", "events": "events", "docs": "docs"}
FILES = ("template.yaml", "samconfig.toml")
THRESHOLD = 0.90
WORKERS = 2  # the machine has two cores, shared

# Lines never mutated, in every module: log calls (what they say is checked by the confidentiality
# tests, not their wording; see docs/testing.md).
NOT_MUTATED = (r"^\s*logger\.(debug|info|warning|error|exception)\(",)


@dataclass(frozen=True)
class Module:
    files: tuple[str, ...]  # under functions/tipline/
    tests: tuple[str, ...]  # pytest arguments: the unit and handler tests that exercise it
    mutants: tuple[str, ...] = ()  # only these (mutmut name patterns) of the files, when given


MODULES: dict[str, Module] = {
    "signature": Module(
        ("intake/signature.py",),
        ("tests/unit/test_signature.py", "tests/handlers/test_webhook_gate.py"),
    ),
    "gate": Module(
        ("intake/gate.py",),
        (
            "tests/unit/test_gate.py",
            "tests/handlers/test_webhook_gate.py",
            "tests/handlers/test_ops_disable_oa.py",  # a disabled OA's events refused at the gate
            *(
                f"tests/handlers/test_webhook.py::{test}"  # its tests of the gate
                for test in (
                    "test_registration_probe_gets_200_and_changes_nothing",
                    "test_each_rejection_stores_and_queues_nothing",
                    "test_schema_errors_name_fields_but_never_echo_values",
                    "test_bare_hex_signature_and_base64_body_are_accepted",
                )
            ),
        ),
    ),
    "intake": Module(  # the decisions: dedupe, join, burst, urgent, answers (not the transactions' plumbing)
        ("intake/service.py", "intake/keywords.py"),
        (
            "tests/handlers/test_webhook.py",
            "tests/handlers/test_webhook_calls.py",
            "tests/handlers/test_faults.py",
            "tests/handlers/test_blocks.py",
        ),
        (
            "tipline.intake.keywords.*",
            *(
                f"tipline.intake.service.x_{function}__mutmut_*"
                for function in (
                    "dedupe_key",  # dedupe
                    "accept",
                    "handle_event",
                    "_on_message",  # routing: answers, burst, urgency
                    "_in_a_flood",  # burst
                    "_store_sender",
                    "_is_command",  # answers
                    "_answer_for",
                    "_queue_contact_answer",
                    "_joinable",  # join
                    "_open_or_join_tip",
                    "_alert_urgent",  # urgent
                )
            ),
        ),
    ),
    "scoping": Module(
        ("access.py", "console/service.py"),
        (
            "tests/handlers/test_officer_authz.py",
            "tests/handlers/test_officer_api.py",
            "tests/handlers/test_thread_view.py",
        ),
    ),
    "sender": Module(
        ("zalo_rules.py", "replies/delivery.py"),
        ("tests/unit/test_rules.py", "tests/unit/test_user_id_cache.py", "tests/handlers/test_sender.py"),
    ),
    "taxonomy": Module(  # Zalo's error codes sorted into retry, refresh, fail and alert
        ("adapters/zalo.py",),
        ("tests/unit/test_zalo_errors.py",),
        ("tipline.adapters.zalo.x_classify__mutmut_*",),
    ),
    "advisories": Module(
        # who may receive advisories: intake/subscription.py records it, the advisory tests judge it
        (
            "advisories/model.py",
            "advisories/delivery.py",
            "advisories/followers.py",
            "intake/subscription.py",
        ),
        (
            "tests/unit/test_advisory_rules.py",
            "tests/handlers/test_advisory_eligibility.py",
            *(  # not its crowd of 10,000 (2.5 min a mutant): the quota has a test of its own
                f"tests/handlers/test_advisories.py::{test}"
                for test in (
                    "test_recurring_schedules_are_evaluated_in_vietnam_time",
                    "test_a_recurring_schedule_ends_at_its_end_date",
                    "test_promotion_hours_around_the_edges",
                    "test_officer_api_scopes_advisories",
                )
            ),
            "tests/handlers/test_advisory_control.py",
            "tests/handlers/test_advisories_ops.py",  # the followers sync
        ),
        (  # eligibility and delivery (not the planning's bookkeeping, the followers sync, the
            # schedule's parsing or the promotion's layout: see docs/testing.md)
            "tipline.intake.subscription.*",
            *(
                f"tipline.advisories.model.x_{function}__mutmut_*"
                for function in (
                    "skip_reason",
                    "in_window",
                    "promotion_hours",
                    "next_promotion_start",
                    "promotion_start_tomorrow",
                    "_six_o_clock",
                    "daily_quota",
                    "vietnam_day",
                )
            ),
            *(
                f"tipline.advisories.delivery.x{function}__mutmut_*"
                for function in (
                    "_deliver",
                    "__not_done",
                    "__fit_promotions",
                    "__release_promotion",
                    "__send_all",
                    "__refused",
                    "__retry_at",
                    "__finish",
                    "ǁ_Batchǁ*",
                )
            ),
        ),
    ),
    "tokens": Module(("tokens/store.py",), ("tests/handlers/test_tokens.py",)),
    "evidence": Module(
        ("evidence/policy.py",),
        (
            "tests/unit/test_evidence_policy.py",
            *(
                f"tests/handlers/test_evidence.py::{test}"  # its policy tests, not the fetcher's
                for test in (
                    "test_content_is_sniffed_from_its_first_bytes",
                    "test_allowed_hosts_are_zalo_suffixes_and_explicit_local_entries",
                    "test_non_public_addresses_are_refused",
                    "test_public_addresses_pass",
                    "test_backoff_grows_and_stops",
                )
            ),
        ),
    ),
}

# Survivors that no test can kill (equivalent mutants), with why; docs/testing.md lists them too.
# mutmut numbers a function's mutants in order, so an edit of that function renumbers them: then
# the run shows them as survivors again, and this list is brought up to date with `mutmut show`.
UNREAD_401_404 = (
    "the message of a 401 or 404 refusal: the API answers only 'Unauthorized' or 'Not found', by design"
)
ACCEPTED: dict[str, str] = {
    "tipline.zalo_rules.x_vietnam__mutmut_3": (
        "fromtimestamp(..., None): a naive local time, which astimezone() reads back as local: same instant"
    ),
    "tipline.zalo_rules.x_vietnam__mutmut_5": "fromtimestamp(...) without a zone: as above",
    "tipline.replies.delivery.xǁRetryLaterǁ__init____mutmut_1": (
        "RetryLater's message (str(exc)): nobody reads it; its .reason is what the DLQ gets"
    ),
    "tipline.replies.delivery.xǁParkǁ__init____mutmut_1": "Park's message: likewise, its .reason is read",
    "tipline.replies.delivery.x__hold_if_disabled__mutmut_5": (
        "the registry read without the cache's seconds: the same answer, read from the table each time"
    ),
    "tipline.replies.delivery.x__text__mutmut_2": (
        "_text's Poison for erased content: unreachable, deliver() fails an erased reply before calling it"
    ),
    "tipline.replies.delivery.x__text__mutmut_3": "the same unreachable Poison's message",
    "tipline.replies.delivery.x__text__mutmut_4": "the same unreachable Poison's message",
    "tipline.replies.delivery.x__text__mutmut_22": (
        "a sealed reply that is not a JSON object: only a bug writes one; it reaches the DLQ either way"
        " (as Poison at once, or as an AttributeError after the backoff)"
    ),
    "tipline.replies.delivery.x__text__mutmut_27": (
        "a Poison's message: only logged, and log wording is not tested"
    ),
    "tipline.replies.delivery.x__text__mutmut_28": "a Poison's message: likewise",
    "tipline.replies.delivery.x__text__mutmut_29": "a Poison's message: likewise",
    "tipline.replies.delivery.xǁ_UserIdsǁput__mutmut_5": "popitem(last=None) for last=False: both false",
    "tipline.replies.delivery.xǁ_UserIdsǁget__mutmut_6": (
        "<= for < against time.monotonic(): differs only within one tick of the clock"
    ),
    "tipline.replies.delivery.xǁ_UserIdsǁget__mutmut_7": (
        "an expired id is not dropped on read: memory only, put() still bounds the size"
    ),
    "tipline.tokens.store.xǁTokenStoreǁrefresh__mutmut_53": (
        "the failure's reason without getattr(exc, 'reason'): only Zalo errors carry one, equal to str(exc)"
    ),
    "tipline.tokens.store.xǁTokenStoreǁrefresh__mutmut_58": "likewise: a Zalo error's reason is its str()",
    "tipline.tokens.store.xǁTokenStoreǁrefresh__mutmut_59": "likewise: a Zalo error's reason is its str()",
    "tipline.tokens.store.xǁTokenStoreǁ_await_winner__mutmut_5": (
        "a deadline 30 ms shorter: less than one 0.1 s poll of the waiting loop"
    ),
    "tipline.tokens.store.xǁTokenStoreǁ_await_winner__mutmut_7": (
        "<= for < against time.monotonic(): at most one more poll"
    ),
    "tipline.tokens.store.x_health__mutmut_32": (
        "3_600_001 ms an hour: moves the 'due' line by as many ms as hours of lead, under a second"
    ),
    "tipline.access.x_caller_from_claims__mutmut_7": UNREAD_401_404,
    "tipline.access.x_caller_from_claims__mutmut_8": UNREAD_401_404,
    "tipline.access.x_caller_from_claims__mutmut_9": UNREAD_401_404,
    "tipline.access.x_caller_from_claims__mutmut_14": UNREAD_401_404,
    "tipline.access.x_caller_from_claims__mutmut_15": UNREAD_401_404,
    "tipline.access.x_caller_from_claims__mutmut_16": UNREAD_401_404,
    "tipline.access.x_caller_from_claims__mutmut_17": UNREAD_401_404,
    "tipline.access.x_caller_from_claims__mutmut_57": UNREAD_401_404,
    "tipline.access.x_caller_from_claims__mutmut_58": UNREAD_401_404,
    "tipline.access.x_caller_from_claims__mutmut_59": UNREAD_401_404,
    "tipline.access.x_visible__mutmut_5": UNREAD_401_404,
    "tipline.access.x_visible__mutmut_6": UNREAD_401_404,
    "tipline.access.x_visible__mutmut_7": UNREAD_401_404,
    "tipline.access.x_caller_from_claims__mutmut_49": "commander=None for False: both false",
    "tipline.access.x__groups__mutmut_5": (
        'no groups read as "XXXX" instead of "": neither names a group, so the caller is refused alike'
    ),
    "tipline.access.x__groups__mutmut_6": (
        "a quoted text not in brackets parsed as JSON: it names no group either way, refused alike"
    ),
    "tipline.access.x__groups__mutmut_19": 'strip("XX[]XX"): group names are lower-case, they hold no "X"',
    "tipline.console.service.x__add_note__mutmut_4": (
        "the note sealed without the pseudonym: a tip's context is {oa_id, tip_id}, the pseudonym unused"
    ),
    "tipline.console.service.x__add_note__mutmut_16": "ensure_ascii=None for False: JSON reads back the same",
    "tipline.console.service.x__add_note__mutmut_18": "ensure_ascii left out: reads back the same",
    "tipline.console.service.x__add_note__mutmut_21": "ensure_ascii=True: escaped JSON reads back the same",
    "tipline.console.service.x__add_note__mutmut_45": "a 32-byte random note id for 8: as unique",
    "tipline.console.service.x__add_note__mutmut_46": "a 9-byte random note id for 8: as unique",
    "tipline.console.service.x_reply__mutmut_37": "a 32-byte random reply id for 10: as unique",
    "tipline.console.service.x_reply__mutmut_82": (
        "queue_reply reading the entry before writing it: a fresh random reply id has none, same outcome"
    ),
    "tipline.console.service.x_reply__mutmut_38": "an 11-byte random reply id for 10: as unique",
    "tipline.intake.service.x__store_sender__mutmut_16": (
        "a Conflict's message: the event is spilled and retried, the message is never shown or stored"
    ),
    "tipline.intake.service.x__store_sender__mutmut_17": "a Conflict's message: likewise",
    "tipline.intake.service.x__store_sender__mutmut_18": "a Conflict's message: likewise",
    "tipline.intake.service.x__queue_contact_answer__mutmut_2": (
        "kms_key_id=None beside the event's keys: queue_reply seals with the keys, the key id unused"
    ),
    "tipline.intake.service.x__queue_contact_answer__mutmut_24": (
        "the answer's id derived under another name: still one id per event, the same on a redelivery"
    ),
    "tipline.intake.service.x__queue_contact_answer__mutmut_26": "the answer id under another name: likewise",
    "tipline.intake.service.x__queue_contact_answer__mutmut_27": "the answer id under another name: likewise",
    "tipline.intake.keywords.x__whole__mutmut_4": (
        'strip("XX .!?XX"): the text is folded to lower case first, so it holds no "X"'
    ),
    "tipline.intake.service.x__on_message__mutmut_6": (
        'a form read as the text "XXXX": a form is never a command, and "XXXX" holds no urgent keyword'
    ),
    "tipline.intake.service.x__on_message__mutmut_8": (
        'a message without text read as "XXXX": no command (none is "XXXX"), no urgent keyword'
    ),
    "tipline.intake.service.x__on_message__mutmut_58": (
        "the window of a count after a lost race to create the contact: only two simultaneous first"
        " messages, the winner's not a command and the loser's one, reach it"
    ),
    "tipline.intake.service.x__on_message__mutmut_63": (
        "stored=False for a new citizen's command: a command is always answered (a code unknown too),"
        " and the answer path never reads it"
    ),
    **{
        f"tipline.intake.service.x__on_message__mutmut_{n}": (
            "the message's stored flag once it goes step by step: only _store_at_once reads it, and the"
            " message has left it"
        )
        for n in (146, 149, 159)
    },
    **{
        f"tipline.intake.service.x_dedupe_key__mutmut_{n}": (
            "the event key's purpose named otherwise or left out: still one key per event, apart from the"
            " other derived ids (tip, ack, in, answer)"
        )
        for n in (21, 25, 26, 32, 37, 38)
    },
    "tipline.intake.service.x__answer_for__mutmut_29": (
        "an unknown code's tip read as TIP#None: nothing there, the same answer, one read more"
    ),
    "tipline.intake.service.x__open_or_join_tip__mutmut_26": "no open tip read as TIP#None: likewise",
    "tipline.intake.service.x__open_or_join_tip__mutmut_1": (
        "grouped's default: every caller passes it (_store_step_by_step, the message's own)"
    ),
    "tipline.intake.service.x__open_or_join_tip__mutmut_10": (
        "a fourth try at settling the open tip: it differs only after three lost races in a row"
    ),
    **{
        f"tipline.intake.service.x__open_or_join_tip__mutmut_{n}": (
            "the message of a Conflict or RuntimeError: the event is spilled and retried, its message unread"
        )
        for n in (60, 64, 65, 66, 67, 68)
    },
    "tipline.intake.service.x__joinable__mutmut_14": (
        "a join window of exactly 1 ms treated as none: TIP_JOIN_HOURS would have to be 1/3,600,000"
    ),
    "tipline.intake.gate.x__registered_oa__mutmut_18": (
        "the app secret read without settings.secret_cache_seconds: secret_json's default is the same 300 s"
    ),
    "tipline.evidence.policy.x_address_refused__mutmut_6": 'split("%") for split("%", 1): the same [0]',
    "tipline.evidence.policy.x_address_refused__mutmut_9": 'split("%", 2) for split("%", 1): the same [0]',
    "tipline.evidence.policy.x_address_refused__mutmut_25": (
        '"unspecified" renamed: unreachable, every unspecified address (0.0.0.0, ::) is private first'
    ),
    "tipline.evidence.policy.x_address_refused__mutmut_26": '"unspecified" renamed: unreachable, as above',
    "tipline.evidence.policy.x_host_allowed__mutmut_5": (
        'rstrip("XX.XX") for rstrip("."): the host is lower-cased first, so it holds no "X"'
    ),
    "tipline.evidence.policy.x_host_allowed__mutmut_14": (
        'strip("XX.XX") for strip("."): likewise lower-cased'
    ),
    "tipline.advisories.delivery.x_deliver__mutmut_39": (
        "the registry read without the cache's seconds: the same answer, read from the table each time"
    ),
    "tipline.advisories.delivery.x__not_done__mutmut_27": (
        "a deferred record without retry_at_ms read as 1, not 0: unreachable, every deferral writes it"
    ),
    "tipline.advisories.delivery.x__not_done__mutmut_28": (
        ">= for > against the retry time: differs only when the message comes back in that very"
        " millisecond (it then waits one second more)"
    ),
    "tipline.advisories.delivery.x__finish__mutmut_13": (
        "at least 2 s for at least 1 s of visibility: differs only for a retry due within a second"
    ),
    "tipline.advisories.delivery.x__fit_promotions__mutmut_24": (
        "no RUN record read as one: unreachable, planning writes it before it queues the message and"
        " nothing deletes it"
    ),
    "tipline.advisories.delivery.x__fit_promotions__mutmut_28": (
        "no RUN record counted as 1 follower, not 0: daily_quota is 500 for both (and unreachable)"
    ),
    "tipline.advisories.delivery.x__fit_promotions__mutmut_93": (
        "slots >= used for slots > used: returns 0 slots when all were used, which changes nothing"
    ),
    "tipline.advisories.delivery.x__send_all__mutmut_11": (
        'b"XXXX" for a missing sealed id: unreachable, such a contact is skipped as no_channel first'
    ),
    "tipline.advisories.delivery.x__send_all__mutmut_96": (
        "a sent record's reason left to record()'s default: None either way (and not stored)"
    ),
    **{
        f"tipline.intake.subscription.x_opted_out__mutmut_{n}": (
            '"HỦY" leaving opted_in as it was: opted_out outranks it in skip_reason, and every way out of'
            " a HỦY (a follow) sets follower, whose end (an unfollow, -213, the sync) clears opted_in"
        )
        for n in (9, 11)
    },
}

KILLED = {1, 3, 36, 24, -24, 152, 255}  # mutmut's exit codes for a failing test and for a timeout


def _toml_list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def stage(name: str) -> Path:
    """``.mutate/<name>/``: links to the checkout, and a pyproject.toml with the module's mutmut table."""
    module = MODULES[name]
    where = STAGES / name
    where.mkdir(parents=True, exist_ok=True)
    for link_name, linked in {**LINKS, **{f: f for f in FILES}}.items():
        link = where / link_name
        if not link.is_symlink():
            link.symlink_to(Path("../..") / linked)
    table = "\n".join(
        (
            "",
            "[tool.mutmut]",
            'source_paths = ["src/tipline"]',
            f"only_mutate = {_toml_list([f'src/tipline/{f}' for f in module.files])}",
            f"also_copy = {_toml_list([*(n for n in LINKS if n != 'src'), *FILES])}",
            f"do_not_mutate_patterns = {_toml_list(NOT_MUTATED)}",
            f"pytest_add_cli_args_test_selection = {_toml_list(module.tests)}",
            'pytest_add_cli_args = ["-p", "tipline_local.mutate"]',  # the hook below
            "",
        )
    )
    (where / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + table)
    last = where / "mutmut-table.toml"
    if not last.exists() or last.read_text() != table:  # another selection: its results do not hold
        shutil.rmtree(where / "mutants", ignore_errors=True)
        last.write_text(table)
    return where


def results(where: Path, name: str) -> dict[str, int | None]:
    """The module's mutants and their exit codes, from the ``.meta`` files mutmut writes."""
    module = MODULES[name]
    codes: dict[str, int | None] = {}
    for file in module.files:
        meta = where / "mutants" / "src" / "tipline" / (file + ".meta")
        if meta.exists():
            codes.update(json.loads(meta.read_text())["exit_code_by_key"])
    if module.mutants:
        codes = {n: c for n, c in codes.items() if any(fnmatch.fnmatchcase(n, p) for p in module.mutants)}
    return codes


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sources(name: str) -> dict[str, str]:
    return {file: _digest(ROOT / "functions" / "tipline" / file) for file in MODULES[name].files}


def _tests(name: str) -> dict[str, str]:
    files = {test.split("::", 1)[0] for test in MODULES[name].tests}
    return {file: _digest(ROOT / file) for file in sorted(files)}


def to_run(where: Path, name: str) -> list[str] | None:
    """The mutants to try now: every one of a file changed since its verdicts (mutmut makes its
    mutants again, numbered anew, so no earlier verdict holds), else only those not yet killed (with
    today's tests: mutmut keeps every verdict it has, and runs again the mutants it is given by
    name). An empty list: all of them (a first run); None: nothing to try."""
    module = MODULES[name]
    record = where / "verdict-sources.json"
    before = json.loads(record.read_text()) if record.exists() else {}
    now = _sources(name)
    tests = _tests(name)
    if before.get("tests") != tests:
        # mutmut maps a test to the functions it calls once, when the test is new: a changed test
        # may call others now, so the map is made again (the verdicts are kept apart from it).
        (where / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    record.write_text(json.dumps({**now, "tests": tests}, indent=1))  # mutmut mutates these first
    verdicts = where / "mutants" / "src" / "tipline"
    changed = {  # or without verdicts: a first run, or another selection of tests
        file
        for file in module.files
        if before.get(file) != now[file] or not verdicts.joinpath(f"{file}.meta").exists()
    }
    if changed == set(module.files):
        return list(module.mutants)
    prefixes = {"tipline." + file.removesuffix(".py").replace("/", ".") + "." for file in changed}
    patterns = module.mutants or tuple(f"{prefix}*" for prefix in prefixes)
    everything = [pattern for pattern in patterns if any(map(pattern.startswith, prefixes))]
    again = [
        n
        for n, c in results(where, name).items()
        if c not in KILLED and n not in ACCEPTED and not any(map(n.startswith, prefixes))
    ]
    return everything + again or None


def pytest_sessionstart(session: Any) -> None:
    """A pytest hook: mutmut runs several pytest sessions in one process (the stats run, the clean
    run), and a log handler made in the first still writes to that session's captured stdout, closed
    since. Logging then fails and prints the chained exception, which a confidentiality test reads
    as a leak. Such handlers are given this session's stdout."""
    import logging

    for handler in logging.getLogger("tipline").handlers:
        stream = getattr(handler, "stream", None)
        if isinstance(handler, logging.StreamHandler) and stream is not None and stream.closed:
            handler.stream = sys.stdout  # not setStream(): it flushes the closed stream first


def pytest_collection_modifyitems(items: list[Any]) -> None:
    """A pytest hook (the stages load this module as a plugin): a mutant's unit tests run before its
    handler tests, so most mutants die in milliseconds instead of after a stack's provisioning."""
    items.sort(key=lambda item: not str(item.nodeid).startswith("tests/unit/"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("modules", nargs="*", help=f"default: all of {', '.join(MODULES)}")
    args = parser.parse_args(argv)
    names: list[str] = args.modules or list(MODULES)
    unknown = [m for m in names if m not in MODULES]
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}; the modules: {', '.join(MODULES)}")
    mutmut = Path(sys.executable).with_name("mutmut")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.monotonic()
    lines = [
        f"{'module':<11} {'killed':>6} {'accepted':>8} {'survived':>8} {'mutants':>7} {'score':>6} {'min':>5}"
    ]
    survivors: list[tuple[str, str, int | None]] = []
    failed = False
    for name in names:
        where = stage(name)
        began = time.monotonic()
        chosen = to_run(where, name)
        command = [str(mutmut), "run", "--max-children", str(WORKERS), *(chosen or ())]
        returncode = 0  # nothing to try: the verdicts stand
        if chosen is not None:
            returncode = subprocess.run(command, cwd=where, env=env, check=False).returncode
        alive = [n for n, c in results(where, name).items() if c == 0 and n not in ACCEPTED]
        if returncode == 0 and alive and chosen is not None:
            # Survivors are tried once more one at a time: with two workers, mutants that their
            # tests kill when run alone have been seen to survive (47 of tokens, once).
            confirm = [str(mutmut), "run", "--max-children", "1", *alive]
            returncode = subprocess.run(confirm, cwd=where, env=env, check=False).returncode
            confirmed = sum(1 for n, c in results(where, name).items() if c == 0 and n in alive)
            print(f"{name}: {len(alive)} survivors tried alone, {len(alive) - confirmed} of them killed")
        minutes = (time.monotonic() - began) / 60
        codes = results(where, name)
        killed = sum(1 for c in codes.values() if c in KILLED)
        accepted = sum(1 for n, c in codes.items() if c not in KILLED and n in ACCEPTED)
        left = sorted((n, name, c) for n, c in codes.items() if c not in KILLED and n not in ACCEPTED)
        survivors += left
        score = (killed + accepted) / len(codes) if codes else 0.0
        failed = failed or returncode != 0 or score < THRESHOLD
        lines.append(
            f"{name:<11} {killed:>6} {accepted:>8} {len(left):>8} {len(codes):>7} "
            f"{score:>6.1%} {minutes:>5.1f}"
            + ("" if returncode == 0 else f"  mutmut exited with {returncode}")
            + ("" if score >= THRESHOLD else f"  below {THRESHOLD:.0%}")
        )
    total = (time.monotonic() - started) / 60
    print(f"\nmutation score per module (mutmut, {WORKERS} workers, {total:.1f} min in all)")
    print("\n".join(lines))
    if survivors:
        print("\nsurvivors (`cd .mutate/MODULE && ../../.venv/bin/mutmut show NAME` shows one):")
        print("\n".join(f"  {module:<11} {name} (exit {code})" for name, module, code in survivors))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
