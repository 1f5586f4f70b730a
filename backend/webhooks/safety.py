"""Where a webhook may point: public Internet addresses only.

A webhook URL is chosen by a tenant; without this check it could make the server
call its own admin ports, cloud metadata (169.254.169.254) or other internal hosts.
The host is resolved once and every address it resolves to must be global. The check
runs when the URL is registered and again before every delivery (DNS can change), and
the delivery connects to the very addresses that were checked, so a second, different
DNS answer between the check and the connection cannot steer it inside.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from backend.domain.refusal import Refusal

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# RFC 6052's well-known NAT64 prefix: the last 32 bits are the IPv4 host reached.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# IETF protocol assignments (RFC 6890); Python before 3.12.4 calls most of it global.
_PROTOCOL_ASSIGNMENTS = ipaddress.IPv4Network("192.0.0.0/24")


class UnsafeWebhookUrl(Refusal):
    """The URL would send tenant data somewhere it must not go."""

    def __init__(self, message: str) -> None:
        super().__init__("unsafe_webhook_url", message, field="url")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 hosts a packet to ``address`` ends up at through a transition mechanism."""
    embedded: list[ipaddress.IPv4Address] = []
    if address.sixtofour is not None:
        embedded.append(address.sixtofour)
    if address.teredo is not None:
        embedded.extend(address.teredo)
    if address in _NAT64:
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return embedded


def _is_public_ipv4(address: ipaddress.IPv4Address) -> bool:
    # is_global alone lets multicast through (224.0.0.0/4 is not "private").
    return address.is_global and not address.is_multicast and address not in _PROTOCOL_ASSIGNMENTS


def _is_public_ipv6(address: ipaddress.IPv6Address) -> bool:
    if not address.is_global or address.is_multicast or address.is_site_local:
        return False
    # ::/8 is reserved (IPv4-compatible ::a.b.c.d among it) yet counts as global;
    # the NAT64 prefix sits inside it and is judged by the IPv4 address it carries.
    if address.is_reserved and address not in _NAT64:
        return False
    return all(_is_public_ipv4(inner) for inner in _embedded_ipv4(address))


def _unmapped(address: IPAddress) -> IPAddress:
    """``::ffff:a.b.c.d`` is the IPv4 host a.b.c.d, so judge and connect to that."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_public_address(address: IPAddress, allow_loopback: bool = False) -> bool:
    """Whether a webhook may connect to ``address``.

    ``allow_loopback`` exists for tests and local development only; production
    configuration refuses it.
    """
    address = _unmapped(address)
    if allow_loopback and address.is_loopback:
        return True
    if isinstance(address, ipaddress.IPv4Address):
        return _is_public_ipv4(address)
    return _is_public_ipv6(address)


def resolve_safe(url: str, allow_loopback: bool = False) -> tuple[SplitResult, list[IPAddress]]:
    """The parsed ``url`` and the addresses its host resolves to, all of them public.

    Raises UnsafeWebhookUrl unless ``url`` is http(s) and every address is public;
    connect only to the returned addresses, never resolve the host again.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise UnsafeWebhookUrl("the URL must start with https:// (or http://)")
    if not parts.hostname:
        raise UnsafeWebhookUrl("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeWebhookUrl("credentials in the URL are not allowed")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeWebhookUrl("the URL has an invalid port") from exc
    try:
        infos = socket.getaddrinfo(
            parts.hostname, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeWebhookUrl(f"the host {parts.hostname!r} does not resolve") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        address = _unmapped(ipaddress.ip_address(info[4][0]))
        if not is_public_address(address, allow_loopback):
            raise UnsafeWebhookUrl(
                f"{parts.hostname} resolves to {address}, which is not a public address"
            )
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeWebhookUrl(f"the host {parts.hostname!r} does not resolve")
    return parts, addresses


def check_webhook_url(url: str, allow_loopback: bool = False) -> None:
    """Raise UnsafeWebhookUrl unless ``url`` is http(s) to public addresses only."""
    resolve_safe(url, allow_loopback)
