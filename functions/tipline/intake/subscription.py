"""Who asked for advisories: each citizen's choice, recorded from the webhook's events.

Advisories go to those who asked for them: followers of the OA, and non-followers who wrote
"NHẬN TIN". A citizen's choice is the latest of four events, ordered by Zalo's timestamp (an older
event that arrives late, such as a retried follow, changes nothing):

- follow: asks for advisories (it also ends an earlier "HỦY");
- unfollow: advisories stop (an earlier "NHẬN TIN" ends too) until the next follow or "NHẬN TIN";
- "NHẬN TIN": asks for advisories, follower or not;
- "HỦY": no advisories, follower or not.

``follower`` itself is Zalo's fact (only followers may get promotion messages), kept apart from
the choice with its own timestamp. The follower sync and Zalo's -213 ("not a follower") learn
that a follow or unfollow event was lost: a lost unfollow ends advisories like the event would
have; a lost follow restores only the fact, never overriding a "HỦY" it cannot order.

Who is skipped, and why, is ``model.skip_reason``. This module is imported by the webhook: it
keeps to the table adapter (the advisory models cost the webhook's cold start ~60 ms).
"""

from __future__ import annotations

from tipline.adapters.table import Table

FOLLOWER_STAMP = "follower_at_ms"
CHOICE_STAMP = "choice_at_ms"


def followed(table: Table, pseudonym: str, at_ms: int) -> None:
    table.set_contact_flags_since(pseudonym, FOLLOWER_STAMP, at_ms, follower=True)
    table.set_contact_flags_since(pseudonym, CHOICE_STAMP, at_ms, opted_out=False)


def unfollowed(table: Table, pseudonym: str, at_ms: int) -> None:
    table.set_contact_flags_since(pseudonym, FOLLOWER_STAMP, at_ms, follower=False)
    table.set_contact_flags_since(pseudonym, CHOICE_STAMP, at_ms, opted_in=False)


def found_following(table: Table, pseudonym: str, at_ms: int) -> None:
    """Zalo lists them as a follower though no follow event reached us: the fact only."""
    table.set_contact_flags_since(pseudonym, FOLLOWER_STAMP, at_ms, follower=True)


def opted_in(table: Table, pseudonym: str, at_ms: int) -> None:
    table.set_contact_flags_since(pseudonym, CHOICE_STAMP, at_ms, opted_in=True, opted_out=False)


def opted_out(table: Table, pseudonym: str, at_ms: int) -> None:
    table.set_contact_flags_since(pseudonym, CHOICE_STAMP, at_ms, opted_in=False, opted_out=True)
