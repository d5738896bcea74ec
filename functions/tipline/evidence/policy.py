"""What the fetcher may download, how much, what it is, and what to do when a download fails.

Pure functions: no I/O. The download itself is :mod:`tipline.adapters.media`.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tipline.domain import FetchFailure
from tipline.retry import backoff_seconds

MiB = 1024 * 1024

# Per attachment type. Zalo's own limits are below these (photos are recompressed; files ≤ 1 GB on
# the PC client but the OA API caps well under that); a body past the cap is refused, not cut.
DEFAULT_SIZE_CAPS: dict[str, int] = {
    "image": 25 * MiB,
    "gif": 25 * MiB,
    "audio": 25 * MiB,
    "video": 200 * MiB,
    "file": 100 * MiB,
}

# Which sniffed types an attachment of each kind is expected to have (a mismatch is kept as
# evidence, flagged, and always served as a download).
_EXPECTED_PREFIXES: dict[str, tuple[str, ...]] = {
    "image": ("image/",),
    "gif": ("image/gif", "video/"),  # Zalo turns some GIFs into short MP4s
    "audio": ("audio/", "video/mp4"),
    "video": ("video/",),
    "file": ("",),
}


def size_cap(kind: str, overrides: Mapping[str, int] | None = None) -> int:
    caps = {**DEFAULT_SIZE_CAPS, **(overrides or {})}
    return caps.get(kind, caps["file"])


# -- hosts and addresses ---------------------------------------------------------------------
def host_allowed(
    host: str, port: int | None, allowed_suffixes: Iterable[str], local_hosts: Iterable[str]
) -> bool:
    """True for a Zalo CDN host (exact or sub-domain of an allowed suffix) or an explicitly
    configured local host:port (the simulator in tests and the local stack)."""
    host = host.lower().rstrip(".")
    if port is not None and f"{host}:{port}" in set(local_hosts):
        return True
    for entry in allowed_suffixes:
        suffix = entry.lower().strip(".")
        if suffix and (host == suffix or host.endswith("." + suffix)):
            return True
    return False


def is_local_host(host: str, port: int | None, local_hosts: Iterable[str]) -> bool:
    return port is not None and f"{host.lower()}:{port}" in set(local_hosts)


def address_refused(address: str) -> str | None:
    """Why an address may not be fetched from (SSRF, OWASP API7), or None for a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    checks = (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("unspecified", ip.is_unspecified),
        ("not global", not ip.is_global),
    )
    for name, hit in checks:
        if hit:
            return name
    return None


# -- content sniffing ------------------------------------------------------------------------
SNIFF_BYTES = 64

_FTYP_BRANDS: dict[bytes, str] = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heif",
    b"msf1": "image/heif",
    b"avif": "image/avif",
    b"qt  ": "video/quicktime",
    b"M4A ": "audio/mp4",
    b"M4B ": "audio/mp4",
    b"3gp4": "video/3gpp",
    b"3gp5": "video/3gpp",
    b"3gp6": "video/3gpp",
    b"3g2a": "video/3gpp2",
}

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"#!AMR-WB\n", "audio/amr-wb"),
    (b"#!AMR\n", "audio/amr"),
    (b"ID3", "audio/mpeg"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"\x1aE\xdf\xa3", "video/webm"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"7z\xbc\xaf'\x1c", "application/x-7z-compressed"),
    (b"\x1f\x8b", "application/gzip"),
    (b"MZ", "application/x-msdownload"),
    (b"\x7fELF", "application/x-executable"),
)

OCTET_STREAM = "application/octet-stream"


def sniff(head: bytes) -> str:
    """The content type from the first bytes (never from the URL or the CDN's header)."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(head[8:12], "video/mp4")
    if head[:4] == b"RIFF" and len(head) >= 12:
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}.get(
            head[8:12], OCTET_STREAM
        )
    for magic, content_type in _MAGIC:
        if head.startswith(magic):
            return content_type
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "audio/aac"  # ADTS
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "audio/mpeg"  # MPEG audio frame
    return OCTET_STREAM


def type_matches(kind: str, content_type: str) -> bool:
    return content_type.startswith(_EXPECTED_PREFIXES.get(kind, ("",)))


# -- failures and retries ------------------------------------------------------------------
# Failures that another attempt cannot fix: reported at once, not retried.
PERMANENT = frozenset(
    {
        FetchFailure.LINK_EXPIRED,
        FetchFailure.REFUSED_BY_CDN,
        FetchFailure.HOST_NOT_ALLOWED,
        FetchFailure.PRIVATE_ADDRESS,
        FetchFailure.TOO_MANY_REDIRECTS,
        FetchFailure.TOO_LARGE,
        FetchFailure.BAD_LINK,
        FetchFailure.INSECURE_LINK,
        FetchFailure.MESSAGE_GONE,
        FetchFailure.NO_LINK,
        FetchFailure.EMPTY,
    }
)

EXPIRED_STATUSES = frozenset({403, 404, 410})


def failure_for_status(status: int) -> FetchFailure:
    if status in EXPIRED_STATUSES:
        return FetchFailure.LINK_EXPIRED
    if status in (408, 425, 429) or status >= 500:
        return FetchFailure.CDN_ERROR
    return FetchFailure.REFUSED_BY_CDN


@dataclass(frozen=True)
class Decision:
    retry: bool
    delay_seconds: int = 0


def decide(
    failure: FetchFailure, attempt: int, max_attempts: int, rng: random.Random | None = None
) -> Decision:
    """Retry a transient failure with exponential backoff and jitter until ``max_attempts``."""
    if failure in PERMANENT or attempt >= max_attempts:
        return Decision(retry=False)
    return Decision(retry=True, delay_seconds=backoff_seconds(attempt, rng=rng))
