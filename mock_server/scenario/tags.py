"""The capability tags of the scenario library: what a client must be able to do to pass.

``realtime-mock run --tag text`` selects the scenarios a text-only client can pass,
``--exclude-tag audio`` leaves out those that need audio. A scenario may carry other tags too
(recordings carry ``recorded``). Kept apart from the model so that the command line's ``--help``
lists them without loading pydantic.
"""

from __future__ import annotations

CAPABILITY_TAGS: dict[str, str] = {
    "text": "a text-only client can pass it (no audio in or out)",
    "audio": "the client streams input audio or plays the answer's audio",
    "vad": "server VAD decides the turns",
    "tools": "function calls: the client runs tools and answers each call_id",
    "mcp": "MCP tools: the client configures an MCP server and answers its approval requests",
    "auth": "the handshake refuses the client's key",
    "retry": "a refusal a correct client retries after backing off",
    "reconnect": "the session ends; a correct client opens a new one and replays",
    "errors": "an error event or refusal the client must report (and survive or give up on)",
    "interruption": "a response is cancelled (response.cancel, barge-in)",
    "beta": "only a beta-dialect client (OpenAI-Beta: realtime=v1) can pass it",
}
