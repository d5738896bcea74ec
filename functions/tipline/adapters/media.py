"""Download one attachment from Zalo's media CDN with httpx, defensively (OWASP API7 SSRF, API4).

- Redirects are followed here, never by httpx, at most ``max_redirects`` times; every hop must be
  https on the default port to an allowed Zalo host, and every address its name resolves to must be
  public (no private, loopback, link-local, multicast, reserved or unspecified address). The
  connection is pinned to the address that was checked (Host header and TLS SNI keep the name), so
  a second DNS answer cannot point it elsewhere.
- Only explicitly configured ``local_hosts`` ("host:port", the simulator in tests and the local
  stack) skip the address check and may use http; there are none by default.
- Explicit connect/read timeouts, a total deadline over all hops, and a size cap enforced while
  streaming (a body past the cap is refused, never truncated). The body is spooled to /tmp while
  its SHA-256 is computed over the bytes exactly as served (no content decoding).
"""

from __future__ import annotations

import hashlib
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

import httpx

from tipline.domain import FetchFailure
from tipline.errors import TiplineError

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SPOOL_IN_MEMORY = 8 * 1024 * 1024

Resolver = Callable[[str, int], list[str]]


class MediaFetchFailed(TiplineError):
    """A download that produced nothing to store; ``failure`` says why (policy decides retries)."""

    def __init__(self, failure: FetchFailure, status: int | None = None) -> None:
        super().__init__(failure.value if status is None else f"{failure.value} (HTTP {status})")
        self.failure = failure
        self.status = status


@dataclass(frozen=True)
class NetworkRules:
    """Which hosts and addresses a download may reach, given by the evidence policy that owns them."""

    host_allowed: Callable[[str, int | None, tuple[str, ...], tuple[str, ...]], bool]
    is_local_host: Callable[[str, int | None, tuple[str, ...]], bool]
    address_refused: Callable[[str], str | None]
    failure_for_status: Callable[[int], FetchFailure]
    sniff_bytes: int


@dataclass(frozen=True)
class MediaLimits:
    allowed_hosts: tuple[str, ...]
    local_hosts: tuple[str, ...]
    max_bytes: int
    deadline_seconds: float
    connect_seconds: float
    read_seconds: float
    max_redirects: int
    rules: NetworkRules


@dataclass
class Downloaded:
    """The bytes as served, spooled; close() when stored."""

    body: IO[bytes]
    size: int
    sha256_hex: str
    sha256_digest: bytes
    head: bytes
    host: str
    redirects: int
    _closed: bool = field(default=False, repr=False)

    def close(self) -> None:
        if not self._closed:
            self.body.close()
            self._closed = True


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise MediaFetchFailed(FetchFailure.NETWORK) from exc
    return sorted({str(info[4][0]) for info in infos})


def _check_hop(url: httpx.URL, limits: MediaLimits, resolver: Resolver) -> str:
    rules = limits.rules
    """Validate one hop and return the address to connect to."""
    if url.userinfo or not url.host:
        raise MediaFetchFailed(FetchFailure.BAD_LINK)
    if url.scheme not in ("http", "https"):
        raise MediaFetchFailed(FetchFailure.BAD_LINK)
    port = url.port
    if not rules.host_allowed(url.host, port, limits.allowed_hosts, limits.local_hosts):
        raise MediaFetchFailed(FetchFailure.HOST_NOT_ALLOWED)
    local = rules.is_local_host(url.host, port, limits.local_hosts)
    if not local:
        if url.scheme != "https":
            raise MediaFetchFailed(FetchFailure.INSECURE_LINK)
        if port not in (None, 443):
            raise MediaFetchFailed(FetchFailure.HOST_NOT_ALLOWED)
    addresses = resolver(url.host, port or (443 if url.scheme == "https" else 80))
    if not addresses:
        raise MediaFetchFailed(FetchFailure.NETWORK)
    if not local and any(rules.address_refused(address) for address in addresses):
        raise MediaFetchFailed(FetchFailure.PRIVATE_ADDRESS)
    return addresses[0]


def _pinned(url: httpx.URL, address: str) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
    headers = {"Host": url.netloc.decode("ascii"), "Accept-Encoding": "identity", "User-Agent": "tipline"}
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    return url.copy_with(host=address), headers, extensions


def _timeout(limits: MediaLimits, remaining: float) -> httpx.Timeout:
    return httpx.Timeout(
        connect=min(limits.connect_seconds, remaining),
        read=min(limits.read_seconds, remaining),
        write=min(limits.read_seconds, remaining),
        pool=min(limits.connect_seconds, remaining),
    )


def download(
    url: str,
    limits: MediaLimits,
    resolver: Resolver = resolve,
    transport: httpx.BaseTransport | None = None,
) -> Downloaded:
    """Fetch ``url`` under ``limits``; raises MediaFetchFailed with the reason otherwise."""
    try:
        current = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise MediaFetchFailed(FetchFailure.BAD_LINK) from None  # the message would quote the link
    deadline = time.monotonic() + limits.deadline_seconds
    with httpx.Client(follow_redirects=False, trust_env=False, transport=transport) as client:
        for hop in range(limits.max_redirects + 1):
            address = _check_hop(current, limits, resolver)
            target, headers, extensions = _pinned(current, address)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MediaFetchFailed(FetchFailure.TOO_SLOW)
            request = client.build_request(
                "GET", target, headers=headers, extensions=extensions, timeout=_timeout(limits, remaining)
            )
            try:
                response = client.send(request, stream=True)
            except httpx.TimeoutException as exc:
                raise MediaFetchFailed(FetchFailure.TOO_SLOW) from exc
            except httpx.HTTPError as exc:
                raise MediaFetchFailed(FetchFailure.NETWORK) from exc
            try:
                if response.status_code in _REDIRECTS:
                    location = response.headers.get("location")
                    if not location:
                        raise MediaFetchFailed(FetchFailure.REFUSED_BY_CDN, response.status_code)
                    try:
                        current = current.join(location)
                    except (httpx.InvalidURL, ValueError):
                        raise MediaFetchFailed(FetchFailure.BAD_LINK) from None
                    continue
                if response.status_code != 200:
                    failure = limits.rules.failure_for_status(response.status_code)
                    raise MediaFetchFailed(failure, response.status_code)
                return _read_body(response, current, hop, limits, deadline)
            finally:
                response.close()
    raise MediaFetchFailed(FetchFailure.TOO_MANY_REDIRECTS)


def _read_body(
    response: httpx.Response, url: httpx.URL, hops: int, limits: MediaLimits, deadline: float
) -> Downloaded:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_bytes:
        raise MediaFetchFailed(FetchFailure.TOO_LARGE)
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - returned open
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        for chunk in response.iter_raw():  # as received: a chunk size would buffer a trickle
            size += len(chunk)
            if size > limits.max_bytes:
                raise MediaFetchFailed(FetchFailure.TOO_LARGE)
            if time.monotonic() > deadline:
                raise MediaFetchFailed(FetchFailure.TOO_SLOW)
            if len(head) < limits.rules.sniff_bytes:
                head = (head + chunk)[: limits.rules.sniff_bytes]
            digest.update(chunk)
            spool.write(chunk)
    except httpx.TimeoutException as exc:
        spool.close()
        raise MediaFetchFailed(FetchFailure.TOO_SLOW) from exc
    except httpx.HTTPError as exc:
        spool.close()
        raise MediaFetchFailed(FetchFailure.NETWORK) from exc
    except MediaFetchFailed:
        spool.close()
        raise
    if size == 0:
        spool.close()
        raise MediaFetchFailed(FetchFailure.EMPTY)
    spool.seek(0)
    return Downloaded(
        body=spool,
        size=size,
        sha256_hex=digest.hexdigest(),
        sha256_digest=digest.digest(),
        head=head,
        host=url.host,
        redirects=hops,
    )
