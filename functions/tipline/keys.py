"""Every storage key of the domain table, spelled once (docs/data-model.md lists each one).

The stores in ``tipline.adapters.store`` build their items' keys from these functions; no other
module writes a key or picks an index. A test keeps this module and the document in step: each
format in ``KEY_FORMATS`` must appear in docs/data-model.md.
"""

from __future__ import annotations

META = "META"  # the sort key of an item that is alone in its partition, or its partition's head

# Global secondary indexes and their partitions.
GSI1, GSI2 = "gsi1", "gsi2"
OA_LIST = "OA"  # gsi1: every registered OA
ALL_TIPS = "TIPS"  # gsi2: every tip, by activity (commanders)
ADVISORY_LIST = "ADVISORIES"  # gsi1: every advisory, by creation
ADVISORY_DUE = "ADVISORY_DUE"  # gsi2: active advisories, by next due time
PURGE = "PURGE"  # evidence purges the sweeper still owes (sort key: tip id)
BLOCKS = "BLOCKS"  # gsi2: every contact an officer blocked (few), newest first

# Every partition and sort-key format, as the documentation spells it.
KEY_FORMATS = (
    "OA#<oa_id>",
    "EVENT#<dedupe_key>",
    "CONTACT#<pseudonym>",
    "AUDIENCE#<oa_id>",
    "TIP#<tip_id>",
    "UNIT#<unit_id>",
    "CODE#<code>",
    "MSG#<at_ms>#<entry_id>",
    "ATT#<entry>#<index>",
    "ZMSG#<oa_id>#<zalo_message_id>",
    "TOKEN#<oa_id>",
    "AUDIT#<tip_id>",
    "AUDIT#<unit_id>",
    "AUDIT#ADVISORY#<advisory_id>",
    "ADVISORY#<advisory_id>",
    "ADVISORY#<advisory_id>#<run_ms>",
    "RUN#<run_ms>#OA#<oa_id>",
    "DLV#<oa_id>#<pseudonym>",
    "PROMO#<day>",
    "PROMOQUOTA#<oa_id>",
    PURGE,
    BLOCKS,
    OA_LIST,
    ALL_TIPS,
    ADVISORY_LIST,
    ADVISORY_DUE,
)


def ms13(at_ms: int) -> str:
    """A time in ms as 13 digits, so that keys sort in time order."""
    return f"{at_ms:013d}"


# -- OA registry and event claims ---------------------------------------------------------------
def oa_pk(oa_id: str) -> str:
    return f"OA#{oa_id}"


def event_pk(dedupe_key: str) -> str:
    return f"EVENT#{dedupe_key}"


# -- contacts -----------------------------------------------------------------------------------
def contact_pk(pseudonym: str) -> str:
    return f"CONTACT#{pseudonym}"


def audience_partition(oa_id: str) -> str:
    """gsi1: an OA's contacts (the advisories' audience), sorted by pseudonym."""
    return f"AUDIENCE#{oa_id}"


def contact_tip_sk(tip_id: str) -> str:
    """Under a contact: one of its tips (CONTACT#<pseudonym> / TIP#<tip_id>)."""
    return f"TIP#{tip_id}"


CONTACT_TIP_PREFIX = "TIP#"


def promotion_sk(day: str) -> str:
    """Under a contact: the promotion it got on a Vietnam day (once per person per day)."""
    return f"PROMO#{day}"


# -- tips and threads ---------------------------------------------------------------------------
def tip_pk(tip_id: str) -> str:
    return f"TIP#{tip_id}"


def unit_partition(unit_id: str) -> str:
    """gsi1: one unit's tips, by activity."""
    return f"UNIT#{unit_id}"


def activity_sk(last_activity_ms: int, tip_id: str) -> str:
    return f"{ms13(last_activity_ms)}#{tip_id}"


def code_pk(code: str) -> str:
    return f"CODE#{code}"


def thread_pk(tip_id: str | None, pseudonym: str) -> str:
    """A thread lives under its tip, or under the contact for messages that belong to no tip."""
    return tip_pk(tip_id) if tip_id is not None else contact_pk(pseudonym)


ENTRY_PREFIX = "MSG#"


def entry_key(at_ms: int, entry_id: str) -> str:
    """A thread entry's sort key: it orders the thread by time."""
    return f"{ENTRY_PREFIX}{ms13(at_ms)}#{entry_id}"


def split_entry_key(key: str) -> tuple[str, str]:
    """(13-digit time, entry id) of an entry key; ValueError if it is not one."""
    prefix, at_ms, entry_id = key.split("#", 2)
    if f"{prefix}#" != ENTRY_PREFIX:
        raise ValueError("not a thread entry key")
    return at_ms, entry_id


ATTACHMENT_PREFIX = "ATT#"


def attachment_sk(attachment_id: str) -> str:
    """Under a tip: the chain-of-custody record of one attachment."""
    return f"{ATTACHMENT_PREFIX}{attachment_id}"


def sent_pointer_pk(oa_id: str, zalo_message_id: str) -> str:
    """A Zalo message id pointing at the thread entry (or advisory delivery) it sent."""
    return f"ZMSG#{oa_id}#{zalo_message_id}"


# -- tokens and audit ---------------------------------------------------------------------------
def token_pk(oa_id: str) -> str:
    return f"TOKEN#{oa_id}"


def audit_pk(tip_id: str) -> str:
    return f"AUDIT#{tip_id}"


def oa_audit_pk(oa_id: str) -> str:
    """An OA's audit trail (disabled and enabled by operations)."""
    return f"AUDIT#OA#{oa_id}"


def advisory_audit_pk(advisory_id: str) -> str:
    """An advisory's audit trail (its creation and cancellation)."""
    return f"AUDIT#ADVISORY#{advisory_id}"


def audit_unit_partition(unit_id: str) -> str:
    """gsi2: one unit's audit trail, newest last."""
    return f"AUDIT#{unit_id}"


# -- advisories ---------------------------------------------------------------------------------
def advisory_pk(advisory_id: str) -> str:
    return f"ADVISORY#{advisory_id}"


def run_pk(advisory_id: str, run_ms: int) -> str:
    """One occurrence's delivery records."""
    return f"ADVISORY#{advisory_id}#{ms13(run_ms)}"


RUN_PREFIX = "RUN#"


def run_sk(run_ms: int, oa_id: str) -> str:
    """Under an advisory: one occurrence for one OA."""
    return f"{RUN_PREFIX}{ms13(run_ms)}#OA#{oa_id}"


def delivery_sk(oa_id: str, pseudonym: str) -> str:
    return f"DLV#{oa_id}#{pseudonym}"


def delivery_prefix(oa_id: str) -> str:
    return f"DLV#{oa_id}#"


def promotion_quota_pk(oa_id: str) -> str:
    """An OA's daily promotion allowance (sort key: the Vietnam day)."""
    return f"PROMOQUOTA#{oa_id}"
