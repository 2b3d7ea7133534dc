"""What ``realtime-mock run`` reports: a failure in full, the table, JUnit XML.

A :class:`Result` is what one scenario's run came to. A failure shows every finding and the
tail of the client's stdout and stderr (with ``-v`` the timeline). The JUnit XML is always
well-formed (one test case a scenario) and the command line in it has its keys redacted.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.client_process import CapturedOutput
from mock_server.redaction import REDACTED, SECRET_WORDS, redact_text
from mock_server.scenario.verdict import ScenarioVerdict
from mock_server.server import Connection

# The most of one line of a stream's tail a report shows.
TAIL_LINE_CHARS = 400


@dataclass
class Result:
    scenario: str
    passed: bool
    exit_code: int | None
    seconds: float
    findings: list[str] = field(default_factory=list)
    stdout: CapturedOutput = field(default_factory=CapturedOutput)
    stderr: CapturedOutput = field(default_factory=CapturedOutput)
    timeline: str = ""
    verdict: ScenarioVerdict | None = None  # None: it did not run
    skipped: str | None = None  # why it did not run (run was interrupted)
    # The scenario's connections (their transcripts), for the HTML report.
    connections: list[Connection] = field(default_factory=list)


# ---- redaction and XML ----------------------------------------------------------------------

_SECRET_WORD = rf"(?:{SECRET_WORDS})"  # the transcript's own vocabulary
_SECRET_OPTION = re.compile(rf"^--?[\w-]*{_SECRET_WORD}$", re.IGNORECASE)
_SECRET_TEXT = [
    # --api-key=X, --api-key X (inside a shell string), Authorization: Bearer X
    re.compile(rf"(--?[\w-]*{_SECRET_WORD})(=|\s+)(?!-)(\S+)", re.IGNORECASE),
    # OPENAI_API_KEY=X, api_key=X, AUTH_TOKEN=X
    re.compile(rf"\b([A-Za-z_][\w]*{_SECRET_WORD}[\w]*)(=)(\S+)", re.IGNORECASE),
    re.compile(r"\b(Bearer)(\s+)(\S+)", re.IGNORECASE),
]


def redact_command(command: Iterable[str]) -> str:
    """The command line as a report may show it: keys and tokens replaced.

    >>> redact_command(["node", "a.js", "--api-key", "abc123", "OPENAI_API_KEY=sk-x"])
    'node a.js --api-key <redacted> OPENAI_API_KEY=<redacted>'
    """
    out: list[str] = []
    for word in command:
        if out and _SECRET_OPTION.match(out[-1]) and not word.startswith("-"):
            out.append(REDACTED)
            continue
        for pattern in _SECRET_TEXT:
            word = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", word)
        out.append(redact_text(word))
    return " ".join(out)


# Terminal control sequences (colours, cursor moves, titles): CSI, OSC and two-byte escapes.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
# What XML 1.0 cannot carry at all, not even as a character reference.
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """``text`` without terminal escapes, other characters XML cannot hold written as ``\\xNN``.

    >>> xml_safe("\\x1b[31mred\\x1b[0m \\x00 \\ud800")
    'red \\\\x00 \\\\ud800'
    """
    text = _ANSI.sub("", text)
    return _XML_ILLEGAL.sub(
        lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text
    )


def printable(text: str) -> str:
    """``text`` as a terminal can print it (lone surrogates from a client's JSON escaped)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# ---- reports --------------------------------------------------------------------------------


def _clip(line: str, width: int = TAIL_LINE_CHARS) -> str:
    return line if len(line) <= width else line[: width - 3] + "..."


def failure_report(result: Result, verbose: bool = False) -> str:
    """What the terminal shows of a failed scenario: every finding, the output's tails."""
    lines = ["  findings:"]
    lines += [f"    - {finding}" for finding in result.findings]
    for label, stream in (("stdout", result.stdout), ("stderr", result.stderr)):
        tail, total = stream.tail_lines()
        if not tail:
            lines.append(f"  {label}: (empty)")
            continue
        lines.append(f"  {label} (last {len(tail)} lines):" if total > len(tail) else f"  {label}:")
        lines += [f"    | {_clip(line)}" for line in tail]
    if verbose:
        lines.append("  timeline:")
        lines += [f"    {line}" for line in (result.timeline or "(no connection)").splitlines()]
    else:
        lines.append("  (-v adds the timeline)")
    return printable("\n".join(lines))


def table(results: list[Result]) -> str:
    rows = [("scenario", "verdict", "exit", "time", "findings")]
    for r in results:
        exit_code = "-" if r.exit_code is None else str(r.exit_code)
        verdict = "skip" if r.skipped else "pass" if r.passed else "FAIL"
        rows.append((r.scenario, verdict, exit_code, f"{r.seconds:.2f}s", str(len(r.findings))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    ran = [r for r in results if not r.skipped]
    passed = sum(r.passed for r in ran)
    summary = f"\n{passed} passed, {len(ran) - passed} failed"
    if len(ran) < len(results):
        summary += f", {len(results) - len(ran)} not run"
    return printable("\n".join(lines) + summary)


def junit_xml(results: list[Result], command: list[str]) -> str:
    """The results as JUnit XML: well-formed whatever the client printed, keys redacted."""
    ran = [r for r in results if not r.skipped]
    suite = ET.Element(
        "testsuite",
        name="realtime-mock",
        tests=str(len(results)),
        failures=str(sum(not r.passed for r in ran)),
        errors="0",
        skipped=str(len(results) - len(ran)),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    ET.SubElement(
        ET.SubElement(suite, "properties"),
        "property",
        name="command",
        value=xml_safe(redact_command(command)),
    )
    for r in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname="realtime-mock",
            name=xml_safe(r.scenario),
            time=f"{r.seconds:.3f}",
        )
        if r.skipped:
            ET.SubElement(case, "skipped", message=xml_safe(r.skipped))
            continue
        if not r.passed:
            message = "; ".join(r.findings)
            failure = ET.SubElement(case, "failure", message=xml_safe(message[:500]))
            failure.text = xml_safe("\n".join(r.findings) + "\n\n" + r.timeline)
        for tag, stream in (("system-out", r.stdout), ("system-err", r.stderr)):
            if stream.total:
                ET.SubElement(case, tag).text = xml_safe(stream.text())
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )


__all__ = [
    "Result",
    "failure_report",
    "junit_xml",
    "printable",
    "redact_command",
    "table",
    "xml_safe",
]


def html_report(path: str, results: Iterable[Result], command: list[str]) -> Path:
    """The run as one HTML page (:mod:`harness.report`): a section per scenario."""
    from harness.report import Section, records_of, write_report

    sections = []
    for result in results:
        records = records_of(result.connections, result.verdict)
        findings = list(result.findings) or ([result.skipped] if result.skipped else [])
        sections.append(Section(result.scenario, records, None, findings, result.passed))
    passed = sum(r.passed for r in results)
    summary = f"{passed} of {len(sections)} scenarios passed; client: {redact_command(command)}"
    return write_report(path, sections, title="realtime-mock run", summary=summary)
