"""The tool calls a ``respond`` step makes the model issue: function calls (the client runs
them) and MCP calls (the service runs them on an MCP server the session's tools name).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from mock_server.scenario.bounds import Strict


class FunctionCall(Strict):
    name: str
    arguments: dict[str, Any] | str = Field(
        default_factory=dict, description="The arguments (an object, or the JSON string)."
    )
    call_id: str | None = Field(None, description="Fix the call_id (default: generated).")


class McpToolError(Strict):
    """How an MCP call failed, as the item's ``error`` says it."""

    type: Literal["tool_execution_error", "http_error", "protocol_error"] = "tool_execution_error"
    message: str
    code: int | None = Field(None, description="Required for http_error and protocol_error.")

    @model_validator(mode="after")
    def _code(self) -> McpToolError:
        if self.type != "tool_execution_error" and self.code is None:
            raise ValueError(f"an MCP {self.type} needs its code (an HTTP or JSON-RPC code)")
        if self.type == "tool_execution_error" and self.code is not None:
            raise ValueError("a tool_execution_error has no code: leave code out")
        return self

    def as_item_error(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
        return error


class McpCall(Strict):
    """A tool the model runs on an MCP server; the session's tools must name the server."""

    server_label: str = Field(description="The MCP tool's server_label in the session's tools.")
    name: str = Field(description="The server's tool to run.")
    arguments: dict[str, Any] | str = Field(
        default_factory=dict, description="The arguments (an object, or the JSON string)."
    )
    output: str | None = Field(None, description="What the tool returned.")
    error: str | McpToolError | None = Field(
        None, description="The call fails: a message (tool_execution_error) or an error object."
    )

    @model_validator(mode="after")
    def _output_or_error(self) -> McpCall:
        if (self.output is None) == (self.error is None):
            raise ValueError("an mcp_call needs either its output or its error (not both)")
        return self

    def item_error(self) -> dict[str, Any] | None:
        if isinstance(self.error, str):
            return {"type": "tool_execution_error", "message": self.error}
        return None if self.error is None else self.error.as_item_error()
