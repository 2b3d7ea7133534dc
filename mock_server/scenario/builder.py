"""Scenarios written in Python: a fluent builder that compiles to the same model as YAML.

Each method adds one step (or rule) and returns the builder, so that a scenario reads like the
conversation it scripts::

    >>> scenario = (
    ...     ScenarioBuilder("weather")
    ...     .expect("conversation.item.create", item={"role": "user"})
    ...     .expect("response.create")
    ...     .respond(function_call=("get_weather", {"city": "Paris"}, "call_1"))
    ...     .expect("conversation.item.create", item={"call_id": "call_1"})
    ...     .expect("response.create")
    ...     .respond(text="It is sunny in Paris.")
    ...     .build()
    ... )
    >>> [step.kind for step in scenario.steps]
    ['expect', 'expect', 'respond', 'expect', 'expect', 'respond']

A step is validated when it is added, so a mistake is an error at the line that made it, with
the same messages as a YAML file's. :meth:`ScenarioBuilder.build` returns a
:class:`~mock_server.scenario.model.Scenario`; :func:`scenario_from_dict` reads the YAML form
from a dict. The pytest plugin's mock is a builder of its own scenario (``mock.expect(...)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Self, TypeVar

from pydantic import BaseModel, ValidationError

from mock_server.scenario.loader import (
    LoadedScenario,
    Problem,
    ScenarioError,
    _is_union_tag,
    resolve_fixture,
)
from mock_server.scenario.model import Rule, Scenario, Step
from mock_server.scenario.yaml_source import dotted

_Model = TypeVar("_Model", bound=BaseModel)

# A function call in a respond: a dict (the YAML form), or (name, arguments[, call_id]).
FunctionCallSpec = Mapping[str, Any] | tuple[Any, ...]


def _problems(exc: ValidationError, source: str, prefix: str = "") -> list[Problem]:
    out = []
    for error in exc.errors(include_url=False):
        path = tuple(p for p in error["loc"] if not _is_union_tag(p))
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = f"unknown field {path[-1]!r}"
        elif error["type"] == "missing":
            message = f"missing field {path[-1]!r}"
        where = ".".join(p for p in (prefix, dotted(path)) if p)
        out.append(Problem(source, 0, 0, message, where))
    return out


def scenario_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> Scenario:
    """A scenario from its YAML form as a dict; ``name`` and ``description`` may be left out.

    >>> scenario_from_dict({"steps": [{"expect": "response.create"}, {"respond": {"text": "Hi"}}]})
    ... # doctest: +ELLIPSIS
    Scenario(name='python', ...)
    """
    given = {"name": "python", "description": "A scenario written in Python.", **data}
    try:
        return Scenario.model_validate(given)
    except ValidationError as exc:
        raise ScenarioError(_problems(exc, source)) from None


def _function_call(spec: FunctionCallSpec) -> dict[str, Any]:
    if isinstance(spec, tuple):
        if not 1 <= len(spec) <= 3:
            raise ValueError("a function call is (name, arguments) or (name, arguments, call_id)")
        names = ("name", "arguments", "call_id")
        return {k: v for k, v in zip(names, spec, strict=False) if v is not None}
    return dict(spec)


class ScenarioBuilder:
    """Steps and rules added in order; :meth:`build` makes the :class:`Scenario`.

    ``settings`` are the scenario's top-level fields (``dialect``, ``pace``, ``time_scale``,
    ``timeout``, ``session``, ``unexpected``, ...), as in YAML. ``folder`` is where relative
    audio fixture paths resolve (``fixture:audio/x.wav`` names a project fixture).

    >>> ScenarioBuilder("hello", pace="fast").expect("response.create").respond(text="Hi").build()
    ... # doctest: +ELLIPSIS
    Scenario(name='hello', ...)
    """

    def __init__(
        self,
        name: str = "python",
        description: str = "A scenario written in Python.",
        *,
        folder: Path | None = None,
        source: str = "<python>",
        **settings: Any,
    ) -> None:
        self._name = name
        self._description = description
        self._folder = folder or Path.cwd()
        self._source = source
        self._settings = dict(settings)
        self._steps: list[Step] = []
        self._rules: list[Rule] = []
        self._changed: Callable[[], None] | None = None

    # ---- steps ---------------------------------------------------------------------------

    def expect(
        self,
        event: str | Mapping[str, Any],
        /,
        *,
        within: float | str | None = None,
        capture: Mapping[str, str] | None = None,
        audio: str | None = None,
        instead: bool = False,
        **fields: Any,
    ) -> Self:
        """The client's next event of this type, whose fields match (the matchers' syntax).

        ``event`` is a type, or a dict with ``type`` and the fields. ``within`` bounds the wait
        (scenario time; without it the scenario's ``timeout``, 10 s by default).

        >>> ScenarioBuilder().expect("conversation.item.create", item={"role": "user"},
        ...                          within="5s").expect({"type": "response.create"})
        ... # doctest: +ELLIPSIS
        <...ScenarioBuilder object at ...>
        """
        spec: dict[str, Any] = {"type": event} if isinstance(event, str) else dict(event)
        if "type" not in spec:
            raise ValueError(f"expect: a match needs a 'type' (got {spec!r})")
        if fields:
            spec["match"] = {**spec.get("match", {}), **fields}
        if within is not None:
            spec["within"] = within
        if capture:
            spec["capture"] = dict(capture)
        if audio is not None:
            self._check_audio(audio)
            spec["audio"] = audio
        if instead:
            spec["instead"] = True
        return self._add({"expect": spec})

    def respond(
        self,
        text: str | None = None,
        *,
        audio: str | None = None,
        transcript: str | None = None,
        function_call: FunctionCallSpec | None = None,
        function_calls: list[FunctionCallSpec] | None = None,
        mcp_call: Mapping[str, Any] | None = None,
        items: list[Mapping[str, Any]] | None = None,
        status: str | None = None,
        reason: str | None = None,
        error: Mapping[str, Any] | None = None,
        usage: Mapping[str, Any] | None = None,
    ) -> Self:
        """The model's next response (whoever asks for it: ``response.create`` or VAD).

        >>> b = ScenarioBuilder().respond(text="Hello!")
        >>> b = b.respond(function_call=("get_weather", {"city": "Paris"}, "call_1"))
        >>> b = b.respond(audio="fixture:audio/answer.wav", transcript="It is sunny.")
        >>> b = b.respond(status="incomplete", reason="max_output_tokens", text="It is")
        >>> b = b.respond(mcp_call={"server_label": "docs", "name": "search", "output": "3 hits"})
        """
        given: dict[str, Any] = {
            "text": text,
            "audio": audio,
            "transcript": transcript,
            "status": status,
            "reason": reason,
            "error": dict(error) if error is not None else None,
            "usage": dict(usage) if usage is not None else None,
        }
        if function_call is not None:
            given["function_call"] = _function_call(function_call)
        if function_calls is not None:
            given["function_calls"] = [_function_call(c) for c in function_calls]
        if mcp_call is not None:
            given["mcp_call"] = dict(mcp_call)
        if items is not None:
            given["items"] = [
                {**i, "function_call": _function_call(i["function_call"])}
                if "function_call" in i
                else dict(i)
                for i in items
            ]
        for reference in [audio, *(i.get("audio") for i in items or [])]:
            if reference:
                self._check_audio(reference)
        return self._add({"respond": {k: v for k, v in given.items() if v is not None}})

    def send(self, event: Mapping[str, Any]) -> Self:
        """A raw server event, as given (templated with the captures).

        >>> b = ScenarioBuilder().send({"type": "rate_limits.updated", "rate_limits": []})
        """
        return self._add({"send": dict(event)})

    def error(
        self,
        message: str = "An error occurred.",
        code: str | None = None,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
    ) -> Self:
        """An ``error`` event (the session goes on).

        >>> b = ScenarioBuilder().error("The server had an error.", type="server_error")
        """
        fault = {"message": message, "code": code, "type": type, "param": param}
        return self._add({"error": {k: v for k, v in fault.items() if v is not None}})

    def close(self, code: int = 1000, reason: str = "") -> Self:
        """Close the connection with this code and reason.

        >>> b = ScenarioBuilder().close(1011, "internal error")
        """
        return self._add({"close": {"code": code, "reason": reason}})

    def drop(self) -> Self:
        """Cut the TCP connection, without a close frame (a network failure)."""
        return self._add({"drop": True})

    def stall(self, seconds: float | str) -> Self:
        """Send nothing for this long (client events are still taken in)."""
        return self._add({"stall": seconds})

    def garbage(self, frame: str | None = None) -> Self:
        """A frame that is not JSON (a truncated delta by default)."""
        return self._add({"garbage": frame if frame is not None else True})

    def expire(self) -> Self:
        """The session's maximum duration is reached (error ``session_expired``, close 1001)."""
        return self._add({"expire": True})

    def wait(
        self, seconds: float | str | None = None, *, until: str | None = None, within: Any = None
    ) -> Self:
        """Hold the script: for a duration, or until the client sends an event of a type.

        >>> b = ScenarioBuilder().wait("500ms").wait(until="input_audio_buffer.commit")
        """
        if (seconds is None) == (until is None):
            raise ValueError("wait: give a duration, or until=EVENT_TYPE (not both)")
        if until is not None:
            spec: dict[str, Any] = {"until": until}
            if within is not None:
                spec["within"] = within
            return self._add({"wait": spec})
        return self._add({"wait": seconds})

    # ---- groups --------------------------------------------------------------------------

    def any_order(self, *events: str | Mapping[str, Any]) -> Self:
        """Expectations satisfied in any order.

        >>> b = ScenarioBuilder().any_order("session.update", {"type": "conversation.item.create"})
        """
        return self._add({"any_order": [{"expect": e} for e in events]})

    def optional(self, build: Callable[[ScenarioBuilder], object]) -> Self:
        """Steps that may be skipped: ``build`` adds them to a fresh builder.

        >>> b = ScenarioBuilder().optional(lambda s: s.expect("session.update"))
        """
        return self._add({"optional": self._group(build)})

    def repeat(self, times: int, build: Callable[[ScenarioBuilder], object]) -> Self:
        """The steps ``build`` adds, ``times`` times over.

        >>> turn = lambda s: s.expect("response.create").respond(text="Hi")
        >>> b = ScenarioBuilder().repeat(2, turn)
        """
        return self._add({"repeat": {"times": times, "steps": self._group(build)}})

    def on(
        self,
        event: str | Mapping[str, Any],
        build: Callable[[ScenarioBuilder], object],
        *,
        instead: bool = True,
        after: int = 0,
        count: int | None = None,
    ) -> Self:
        """A rule: whenever the client sends ``event``, do the steps ``build`` adds.

        >>> b = ScenarioBuilder().on("response.cancel", lambda s: s.error("No.", "nope"), count=1)
        """
        when: dict[str, Any] = {"type": event} if isinstance(event, str) else dict(event)
        when["after"] = after
        if count is not None:
            when["count"] = count
        spec = {"when": when, "do": self._group(build), "instead": instead}
        self._rules.append(self._validated(Rule, spec, f"rules[{len(self._rules)}]"))
        return self._touched()

    # ---- the scenario --------------------------------------------------------------------

    @property
    def steps(self) -> list[Step]:
        return list(self._steps)

    @property
    def rules(self) -> list[Rule]:
        return list(self._rules)

    def build(self, **settings: Any) -> Scenario:
        """The scenario (``settings`` override the builder's top-level fields)."""
        data = {
            "name": self._name,
            "description": self._description,
            **self._settings,
            **settings,
        }
        scenario = self._validated(Scenario, data, "")
        return scenario.model_copy(update={"steps": self.steps, "rules": self.rules})

    def loaded(self, **settings: Any) -> LoadedScenario:
        """The scenario as the server plays it (with where its fixtures resolve)."""
        return LoadedScenario(self.build(**settings), self._source, self._folder)

    # ---- internals -----------------------------------------------------------------------

    def _group(self, build: Callable[[ScenarioBuilder], object]) -> list[Step]:
        inner = ScenarioBuilder(folder=self._folder, source=self._source)
        build(inner)
        return inner.steps

    def _check_audio(self, reference: str) -> None:
        resolve_fixture(reference, self._folder)

    def _validated(self, model: type[_Model], data: Mapping[str, Any], where: str) -> _Model:
        """``data`` as ``model``, or a :class:`ScenarioError` naming ``where`` it went wrong."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ScenarioError(_problems(exc, self._source, where)) from None

    def _add(self, data: dict[str, Any]) -> Self:
        self._steps.append(self._validated(Step, data, f"steps[{len(self._steps)}]"))
        return self._touched()

    def _touched(self) -> Self:
        if self._changed is not None:
            self._changed()
        return self
