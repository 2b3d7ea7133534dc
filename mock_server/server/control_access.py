"""Who may use the control API: clients on this machine (loopback), or, when the server was
started so (``--control-remote``), any client carrying the token.

With a token, every request carries it (``Authorization: Bearer TOKEN``), the local ones too.
Without one, a request that a browser sends for a page of another origin, or under a DNS name
rebound to 127.0.0.1, is refused by its ``Origin`` or ``Host``: a web page may not drive a
developer's mock.
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlsplit

from mock_server.protocol.http import HttpRequest
from mock_server.server.control_errors import ControlError

_LOOPBACK_NAMES = ("localhost",)


def is_loopback(peer: str | None) -> bool:
    """Whether a peer address is this machine's loopback (an unknown peer is not).

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("::ffff:127.0.0.1")
    (True, True, True)
    >>> is_loopback("192.168.1.20"), is_loopback(None)
    (False, False)
    """
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer.split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _loopback_host(value: str) -> bool:
    """Whether a Host or Origin names this machine (not a name that merely resolves to it)."""
    host = urlsplit(value if "//" in value else f"//{value}").hostname or ""
    return host in _LOOPBACK_NAMES or is_loopback(host)


class ControlAccess:
    """The control API's admission rule: loopback only, unless ``remote`` (with a token)."""

    def __init__(self, token: str | None = None, remote: bool = False) -> None:
        if remote and not token:
            raise ValueError("a control API open to other machines needs a token")
        self.token = token
        self.remote = remote

    def admit(self, request: HttpRequest) -> None:
        """Raises :class:`ControlError` (403, 401) unless ``request`` may use the API."""
        local = is_loopback(request.peer)
        if not local and not self.remote:
            raise ControlError(
                403,
                "the control API answers only clients on this machine (loopback); serve with "
                "--control-remote --control-token TOKEN to open it to others",
                code="control_loopback_only",
            )
        if self.token is not None:
            presented = request.headers.get("Authorization", "")
            expected = f"Bearer {self.token}"
            if not hmac.compare_digest(presented.encode(), expected.encode()):
                raise ControlError(
                    401,
                    "the control API needs its token: send 'Authorization: Bearer TOKEN' "
                    "(the --control-token the server was started with)",
                    code="control_token_required",
                )
            return
        # Without a token, only this machine's own clients: a browser page elsewhere (another
        # origin, or a DNS name rebound to 127.0.0.1) gets nothing.
        origin = request.headers.get("Origin")
        host = request.headers.get("Host")
        if (origin is not None and not _loopback_host(origin)) or (
            host is not None and not _loopback_host(host)
        ):
            raise ControlError(
                403,
                "the control API refuses requests from web pages and names other than "
                "localhost (Origin/Host); start the server with --control-token to allow them",
                code="control_origin_refused",
            )
