"""Where a webhook may point: never at this network's own private addresses.

A webhook URL is chosen by a tenant; without this check it could make the server
call its own admin ports, cloud metadata (169.254.169.254) or other internal hosts.
The host is resolved and every address it resolves to must be public. The check runs
when the URL is registered and again before every delivery (DNS can change).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class UnsafeWebhookUrl(ValueError):
    pass


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def check_webhook_url(url: str, allow_loopback: bool = False) -> None:
    """Raise UnsafeWebhookUrl unless ``url`` is http(s) to public addresses only.

    ``allow_loopback`` exists for tests and local development only; production
    configuration refuses it.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise UnsafeWebhookUrl("the URL must start with https:// (or http://)")
    if not parts.hostname:
        raise UnsafeWebhookUrl("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeWebhookUrl("credentials in the URL are not allowed")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeWebhookUrl(f"the host {parts.hostname!r} does not resolve") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if allow_loopback and address.is_loopback:
            continue
        if _forbidden(address):
            raise UnsafeWebhookUrl(
                f"{parts.hostname} resolves to {address}, a loopback, private or link-local address"
            )
