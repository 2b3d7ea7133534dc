"""One relayed connection: frames both ways, unchanged, each one into the transcript.

Once both sides are open, :class:`Relay` moves frames both ways as they are and writes each one,
classified by :func:`~mock_server.protocol.frames.read_frame` (the session's own reading), into
the connection's :class:`~mock_server.transcript.Transcript`: the one record the recorder reads
when the connection ends (see :mod:`mock_server.record`). A passthrough scenario's rules fire
on client events; their faults go through :func:`~mock_server.scenario.actions.perform`, with
:class:`~mock_server.relay.faults.RelayActions` as the connection's actions.

Whatever happens to a relayed connection (the upstream closes without a status or is lost, a
frame cannot be parsed, a rule or the relay itself fails), the transcript ends with the close the
client got and the recorder gets it; a failure is one line in the log, never with a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from mock_server import conformance
from mock_server.ids import IdFactory
from mock_server.protocol.encoding import encoder_for
from mock_server.protocol.events import Dialect
from mock_server.protocol.frames import Malformed, read_frame
from mock_server.redaction import redact_text
from mock_server.relay.faults import CloseWith, Cut, Frame, Pause, RelayActions
from mock_server.session.outbox import Outbox
from mock_server.session.outputs import ServerEvent
from mock_server.transcript import CLOSED_BY_SERVER, Direction, Transcript

if TYPE_CHECKING:  # the scenario format is loaded only when a passthrough scenario has rules
    from mock_server.scenario.model import EventMatch
    from mock_server.scenario.rules import RuleBook

log = logging.getLogger("realtime_mock")

# Noted when a passthrough scenario's rule cannot be applied (a bad template): no verdict reads
# a relayed connection, so the transcript and the log say it.
RULE_PROBLEM = "rule.problem"
# Noted when the relay itself failed (a bug): the client got 1011; the recording is still made.
RELAY_FAILED = "relay.failed"


class RecordingSink(Protocol):
    """Where finished connections go (the recorder implements it); ``secrets`` are the key
    values seen on the connection, so that none of them is written anywhere."""

    def add(self, transcript: Transcript, secrets: Sequence[str]) -> None: ...


@dataclass
class Relay:
    """One relayed connection: frames both ways, unchanged, each one into the transcript."""

    upstream: ClientConnection
    transcript: Transcript
    secrets: list[str]
    recorder: RecordingSink | None = None
    rules: RuleBook | None = None
    dialect: Dialect = Dialect.GA
    _origin: float = field(default_factory=time.monotonic)
    _ids: IdFactory = field(default_factory=IdFactory)
    _outbox: Outbox | None = field(default=None, init=False, repr=False)

    def _t(self) -> float:
        return time.monotonic() - self._origin

    def _note(self, side: Direction, frame: str | bytes) -> dict[str, Any] | None:
        """Write ``frame`` into the transcript; the event it holds, if it is one."""
        event = read_frame(frame)
        if isinstance(event, Malformed):  # relayed all the same: the upstream answers it
            self.transcript.add(self._t(), side, event.label, raw=event.raw, note=event.finding)
            return None
        type_ = event.get("type")
        label = type_ if isinstance(type_, str) else "<no type>"
        self.transcript.add(self._t(), side, label, event=event)
        return event

    def _emit(self, event: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The relay's own events (a rule's ``send``, ``error``, ``expire``) leave through an
        :class:`~mock_server.session.outbox.Outbox`, as a session's do: stamped (unless given
        an id), named for the dialect, checked, written to the transcript. The wire event and
        its text come out, to be sent by the caller in order with the relayed frames."""
        if self._outbox is None:
            self._outbox = Outbox(
                encoder_for(self.dialect),
                self._ids,
                self.transcript,
                self._t,
                conformance.default_checks(),
            )
        wire = self._outbox.emit_given(event)
        (sent,) = self._outbox.take()
        assert isinstance(sent, ServerEvent)
        return wire, sent.text

    async def _pump(
        self, source: ServerConnection | ClientConnection, sink: Any, side: Direction
    ) -> None:
        async for frame in source:
            # Noted before it is passed on: the transcript orders each event before its answer.
            event = self._note(side, frame)
            scripted = side == "client" and event is not None and self.rules is not None
            if scripted and await self._scripted(event or {}, client=source):
                continue
            with contextlib.suppress(ConnectionClosed):
                await sink.send(frame)

    async def _scripted(self, event: dict[str, Any], client: Any) -> bool:
        """The rules the event fires, applied; a rule that fails is noted, and the event then
        goes upstream as if no rule had fired (the relay goes on)."""
        try:
            return await self._apply_rules(event, client)
        except ConnectionClosed:
            raise
        except Exception as exc:
            self._problem(f"{event.get('type')}: {type(exc).__name__}: {exc}")
            return False

    # ---- a passthrough scenario's faults ----------------------------------------------------

    def _new_id(self, kind: str) -> str:
        return self._ids.new(kind)  # type: ignore[arg-type]

    def _matches(self, when: EventMatch, event: dict[str, Any]) -> bool:
        from mock_server.scenario.rules import event_matches
        from mock_server.scenario.templating import TemplateError

        try:
            return event_matches(when, event, {}, self._new_id)
        except TemplateError as exc:
            self._problem(f"when {when.type}: {exc}")
            return False

    def _problem(self, message: str) -> None:
        self.transcript.add(self._t(), "note", RULE_PROBLEM, note=message)
        log.warning("realtime-mock: a passthrough rule was not applied: %s", message)

    async def _apply_rules(self, event: dict[str, Any], client: ServerConnection) -> bool:
        """Run the rules the event fires; True when one of them takes the event's place."""
        from mock_server.scenario.actions import perform
        from mock_server.scenario.templating import TemplateError, render

        assert self.rules is not None
        actions = RelayActions(self._emit, self.transcript, self._t)
        instead = False
        for rule in self.rules.firing(event, self._matches):
            for step in rule.do:
                try:
                    perform(step, actions, lambda sent: render(sent, {}, self._new_id))
                except TemplateError as exc:
                    self._problem(f"send: {exc}")
                # Sent step by step: a stall holds back the steps after it, not those before.
                await self._send_queued(actions, client)
            instead = instead or rule.instead
        return instead

    async def _send_queued(self, actions: RelayActions, client: ServerConnection) -> None:
        queued, actions.queue = actions.queue, []
        for output in queued:
            if isinstance(output, Frame):
                with contextlib.suppress(ConnectionClosed):
                    await client.send(output.data)
            elif isinstance(output, CloseWith):
                await self._close(client, output.code, output.reason)
            elif isinstance(output, Cut):
                client.transport.abort()
            elif isinstance(output, Pause):
                await asyncio.sleep(output.seconds)

    async def _close(self, client: ServerConnection, code: int, reason: str) -> None:
        code = int(code)  # websockets' CloseCode is an enum: the transcript holds plain ints
        self.transcript.add(self._t(), "note", CLOSED_BY_SERVER, note=f"{code} {reason}".strip())
        self.transcript.closed = (code, reason)
        await client.close(code, reason)

    async def run(self, client: ServerConnection) -> None:
        """Relay until either side closes; the other side gets the same close.

        The recording is made whatever happens: a failure of the relay itself is one line in
        the log (no key), the client gets 1011 and the transcript says so.
        """
        try:
            await self._relay(client)
        except Exception as exc:
            message = redact_text(f"{type(exc).__name__}: {exc}", self.secrets)[:500]
            log.error("realtime-mock: the relay failed (the recording is kept): %s", message)
            self.transcript.add(self._t(), "note", RELAY_FAILED, note=message)
            self.transcript.closed = (1011, "realtime-mock: relay failure")
            with contextlib.suppress(Exception):
                await client.close(1011, "realtime-mock: relay failure")
        finally:
            with contextlib.suppress(Exception):
                await self.upstream.close()
            if self.recorder is not None:
                try:
                    self.recorder.add(self.transcript, self.secrets)
                except Exception as exc:  # the relay itself went well; say what did not
                    message = redact_text(f"{type(exc).__name__}: {exc}", self.secrets)[:500]
                    log.error("realtime-mock: could not record the connection: %s", message)

    async def abandon(self) -> None:
        """Close the upstream of a connection whose client never completed its handshake."""
        with contextlib.suppress(Exception):
            await self.upstream.close()

    async def _relay(self, client: ServerConnection) -> None:
        upstream = self.upstream
        to_upstream = asyncio.ensure_future(self._pump(client, upstream, "client"))
        to_client = asyncio.ensure_future(self._pump(upstream, client, "server"))
        try:
            done, _ = await asyncio.wait(
                {to_upstream, to_client}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:  # a pump that failed otherwise than by a close: the relay did
                failure = task.exception()
                if failure is not None and not isinstance(failure, ConnectionClosed):
                    raise failure
            if to_client in done:
                await self._upstream_closed(client)
            else:
                code, reason = int(client.close_code or 1000), client.close_reason or ""
                if self.transcript.closed is None:  # not a close a rule made
                    self.transcript.closed = (code, reason)
                await upstream.close(code if code not in (1005, 1006) else 1000, reason)
        finally:
            for task in (to_upstream, to_client):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await task

    async def _upstream_closed(self, client: ServerConnection) -> None:
        """The client hears what the upstream did: its close code and reason; a close frame
        without a status (1005) as a plain 1000, since 1005 cannot be sent; a connection lost
        without any close (1006) as the same, the client's connection dropped."""
        code, reason = int(self.upstream.close_code or 1006), self.upstream.close_reason or ""
        if code == 1006:
            self.transcript.add(self._t(), "note", CLOSED_BY_SERVER, note="1006 upstream lost")
            self.transcript.closed = (1006, "upstream connection lost")
            client.transport.abort()
            return
        await self._close(client, 1000 if code == 1005 else code, reason)
