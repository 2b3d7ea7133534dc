"""The control API's error and the root of the mounts it serves, for its light parts.

What the control API needs before any request comes (routing, access, errors) must not load
the scenario machinery (pydantic, the SDK's models): ``serve`` attaches the API before it
listens, and listens within 1.5x of a bare ``import websockets`` (issue 15). Reading a posted
scenario (:mod:`~mock_server.server.control_mounts`) loads the rest on its first request.
"""

from __future__ import annotations

from typing import Any

# Where a control mount's URLs live: ws://HOST:PORT/mocks/<id>/v1/realtime.
PREFIX_ROOT = "/mocks"


class ControlError(Exception):
    """A control request that cannot be done: the HTTP status and what to say (OpenAI's shape)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        problems: list[dict[str, Any]] | None = None,
        allow: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.problems = problems
        self.allow = allow
