"""The evidence policy's edges, each on both sides: size caps, hosts, addresses, sniffing, retries.

The fetcher's handler tests (tests/handlers/test_evidence.py) prove the policy is applied; these
pin each rule exactly, so a changed cap, prefix, status or comparison fails here (``make mutate``).
"""

from __future__ import annotations

import random

import pytest
from tipline.domain import FetchFailure as Failure
from tipline.evidence import policy
from tipline.evidence.policy import MiB
from tipline.retry import backoff_seconds

ALLOWED = ("zdn.vn", "zalo.me")


def test_each_kind_has_its_cap_and_an_unknown_kind_gets_the_file_cap() -> None:
    assert {kind: policy.size_cap(kind) for kind in ("image", "gif", "audio", "video", "file")} == {
        "image": 25 * MiB,
        "gif": 25 * MiB,
        "audio": 25 * MiB,
        "video": 200 * MiB,
        "file": 100 * MiB,
    }
    assert policy.size_cap("sticker") == 100 * MiB
    assert policy.size_cap("image", {"image": 5}) == 5
    assert policy.size_cap("sticker", {"file": 7}) == 7
    assert policy.size_cap("video", {"image": 5}) == 200 * MiB


def test_hosts_match_whole_labels_whatever_their_case_or_trailing_dot() -> None:
    assert policy.host_allowed("zdn.vn", None, ALLOWED, ())  # the suffix itself
    assert policy.host_allowed("Photo.ZDN.vn.", None, ALLOWED, ())
    assert policy.host_allowed("a.zalo.me", None, (".ZALO.ME.",), ())  # configured with dots and capitals
    assert not policy.host_allowed("xzdn.vn", None, ALLOWED, ())
    assert not policy.host_allowed("zdn.vn.example", None, ALLOWED, ())
    assert not policy.host_allowed("example.com", None, ("", "."), ())  # an empty entry allows nothing
    assert not policy.host_allowed("127.0.0.1", None, ALLOWED, ("127.0.0.1:8901",))  # no port given


def test_a_local_host_needs_its_exact_port() -> None:
    local = ("127.0.0.1:8901", "localhost:8902")
    assert policy.is_local_host("127.0.0.1", 8901, local)
    assert policy.is_local_host("LOCALHOST", 8902, local)
    assert not policy.is_local_host("127.0.0.1", 8902, local)
    assert not policy.is_local_host("127.0.0.1", None, local)
    assert not policy.is_local_host("127.0.0.2", 8901, local)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # an IPv4-mapped address is judged as the IPv4 one
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),  # a zone id is not part of the address
        ("224.0.0.1", "multicast"),
        ("10.1.2.3", "private"),
        ("240.0.0.1", "private"),
        ("0.0.0.0", "private"),  # noqa: S104
        ("10.0.0.1%eth0", "private"),  # an IPv4 address never has a zone: the zone is dropped
        ("10.0.0.1%a%b", "private"),
        ("::2", "reserved"),
        ("100.64.0.1", "not global"),
    ],
)
def test_each_refused_address_says_why(address: str, reason: str) -> None:
    assert policy.address_refused(address) == reason


def test_a_public_address_mapped_into_ipv6_passes() -> None:
    assert policy.address_refused("::ffff:203.162.4.190") is None
    assert policy.address_refused("203.162.4.190") is None


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x00\x00\x00\x18ftypmif1", "image/heif"),
        (b"\x00\x00\x00\x18ftypavif", "image/avif"),
        (b"\x00\x00\x00\x18ftyp3gp4", "video/3gpp"),
        (b"\x00\x00\x00\x18ftyp3g2a", "video/3gpp2"),
        (b"\x00\x00\x00\x18ftyp", "application/octet-stream"),  # too short to hold a brand
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/wav"),
        (b"RIFF\x00\x00\x00\x00WAVE", "audio/wav"),  # exactly 12 bytes
        (b"RIFF\x00\x00\x00\x00AVI LIST", "video/x-msvideo"),
        (b"RIFF\x00\x00\x00\x00RMID", "application/octet-stream"),
        (b"RIFF\x00\x00\x00\x00WEB", "application/octet-stream"),  # shorter than 12 bytes
        (b"GIF89a", "image/gif"),
        (b"BM6\x00", "image/bmp"),
        (b"#!AMR-WB\n", "audio/amr-wb"),
        (b"OggS\x00", "audio/ogg"),
        (b"fLaC\x00", "audio/flac"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
        (b"Rar!\x1a\x07\x00", "application/vnd.rar"),
        (b"7z\xbc\xaf'\x1c", "application/x-7z-compressed"),
        (b"\x1f\x8b\x08", "application/gzip"),
        (b"\x7fELF\x02", "application/x-executable"),
        (b"\xff\xf1\x50", "audio/aac"),  # ADTS
        (b"\xff\xf1", "audio/aac"),  # two bytes are enough
        (b"\xff\xfb", "audio/mpeg"),
        (b"\xff\xf9\x50", "audio/aac"),
        (b"\xff\xfb\x90", "audio/mpeg"),  # an MPEG audio frame
        (b"\xff\xe3\x90", "audio/mpeg"),
        (b"\xff\xd7", "application/octet-stream"),  # neither frame sync
        (b"\xff", "application/octet-stream"),
        (b"\xfe\xfb", "application/octet-stream"),
    ],
)
def test_more_content_is_sniffed_from_its_first_bytes(head: bytes, expected: str) -> None:
    assert policy.sniff(head) == expected


@pytest.mark.parametrize(
    ("kind", "content_type", "matches"),
    [
        ("image", "image/png", True),
        ("image", "video/mp4", False),
        ("gif", "image/gif", True),
        ("gif", "video/mp4", True),
        ("gif", "image/png", False),
        ("audio", "audio/amr", True),
        ("audio", "video/mp4", True),
        ("audio", "video/webm", False),
        ("video", "video/mp4", True),
        ("video", "audio/mpeg", False),
        ("file", "application/pdf", True),
        ("sticker", "application/zip", True),  # an unknown kind expects nothing in particular
    ],
)
def test_the_sniffed_type_is_checked_against_the_attachment_kind(
    kind: str, content_type: str, matches: bool
) -> None:
    assert policy.type_matches(kind, content_type) is matches


@pytest.mark.parametrize(
    ("status", "failure"),
    [
        (403, Failure.LINK_EXPIRED),
        (404, Failure.LINK_EXPIRED),
        (410, Failure.LINK_EXPIRED),
        (408, Failure.CDN_ERROR),
        (425, Failure.CDN_ERROR),
        (429, Failure.CDN_ERROR),
        (500, Failure.CDN_ERROR),
        (503, Failure.CDN_ERROR),
        (400, Failure.REFUSED_BY_CDN),
        (401, Failure.REFUSED_BY_CDN),
        (499, Failure.REFUSED_BY_CDN),
    ],
)
def test_each_cdn_status_maps_to_its_failure(status: int, failure: Failure) -> None:
    assert policy.failure_for_status(status) is failure


def test_transient_failures_are_retried_until_the_last_attempt_and_permanent_ones_never() -> None:
    rng = random.Random(1)
    first = policy.decide(Failure.CDN_ERROR, 1, 3, rng)
    assert first.retry and 15 <= first.delay_seconds <= 30
    second = policy.decide(Failure.TOO_SLOW, 2, 3, rng)
    assert second.retry and 30 <= second.delay_seconds <= 60
    for attempt in (4, 5, 6):  # the caller's random source draws the jitter
        decided = policy.decide(Failure.NETWORK, attempt, 9, random.Random(attempt))
        assert decided.delay_seconds == backoff_seconds(attempt, rng=random.Random(attempt))
    assert policy.decide(Failure.NETWORK, 3, 3) == policy.Decision(retry=False, delay_seconds=0)
    for failure in policy.PERMANENT:
        assert policy.decide(failure, 1, 3) == policy.Decision(retry=False)
    transient = set(Failure) - policy.PERMANENT
    assert transient == {Failure.CDN_ERROR, Failure.TOO_SLOW, Failure.NETWORK}
