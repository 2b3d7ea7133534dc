"""The built wheel, installed in a fresh venv far from the clone, does what the README promises.

The wheel is built offline (``--no-build-isolation``: the test extras install the backend) from
a copy of the source tree, and installed with ``--no-deps --no-index`` into a venv under
``tmp_path``. That venv borrows the dependencies (websockets, openai, pytest, ...) from this
interpreter's site-packages (and PYTHONPATH folders other than the clone) through a ``.pth``
file that lists those folders. A path listed in a
``.pth`` file is added to ``sys.path`` but its own ``.pth`` files are not run, so the editable
install of this very project (a meta-path finder installed by a ``.pth``) stays inert: any
module or data file missing from the wheel is then an ImportError or a missing file, never a
silent fallback to the clone. The probe below checks exactly that, and every command runs with
no ``PYTHONPATH`` and from a folder outside the clone. An editable install (``pip install -e``)
of the same copy, in a venv of its own, must find the copy's top-level ``scenarios/`` and
``fixtures/`` instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import shutil
import signal
import site
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI

ROOT = Path(__file__).resolve().parents[2]
WAIT = 60.0
PACKAGES = ("mock_server", "harness", "realtime_mock")
# Not part of the source a wheel is built from (and some are large).
IGNORED = shutil.ignore_patterns(
    ".git", "build", "dist", "*.egg-info", "__pycache__", "node_modules", ".venv", "venv",
    "realtime-mock-demo", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis",
)  # fmt: skip

PROBE = """
import importlib, json, pkgutil, sys
finders = [repr(f) for f in sys.meta_path if "editable" in repr(f).lower()]
import harness, mock_server, realtime_mock
from mock_server import resources
from mock_server.scenario.loader import library
modules = {}
for top in (mock_server, harness, realtime_mock):
    modules[top.__name__] = top.__file__
    for info in pkgutil.walk_packages(top.__path__, top.__name__ + "."):
        modules[info.name] = importlib.import_module(info.name).__file__
print(json.dumps({
    "prefix": sys.prefix, "finders": finders, "modules": modules,
    "scenarios": str(resources.SCENARIOS), "audio": str(resources.AUDIO),
    "library": library(), "manifest": (resources.AUDIO / "manifest.yaml").is_file(),
}))
"""

PLUGIN_TEST = """
import asyncio
import sys
from pathlib import Path

import mock_server
import realtime_mock as api


def test_a_library_scenario_from_the_wheel(realtime_mock):
    assert Path(mock_server.__file__).is_relative_to(sys.prefix)
    assert Path(api.__file__).is_relative_to(sys.prefix)
    mock = realtime_mock("text_turn")

    async def talk():
        config = api.ClientConfig(url=mock.ws_url, api_key=mock.api_key)
        async with api.RealtimeClient(config) as client:
            return (await client.say("Hello")).text

    assert asyncio.run(talk()) == "Paris is sunny today, twenty two degrees."
    mock.assert_verdict_ok()
"""


def _source_packages() -> set[str]:
    """Every package of the source tree (a folder with ``__init__.py``) the wheel must carry."""
    found = set()
    for top in PACKAGES:
        for init in (ROOT / top).rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                found.add(".".join(init.parent.relative_to(ROOT).parts))
    return found


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=WAIT, **kwargs)


def _outcome(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


class Venv:
    """A venv holding only the wheel, and the environment to run its commands in."""

    def __init__(self, tmp: Path, *, editable: bool = False) -> None:
        self.source = tmp / "source"
        shutil.copytree(ROOT, self.source, ignore=IGNORED, symlinks=True)
        if editable:
            target = ["-e", str(self.source)]
        else:
            built = _run(
                [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                 "--no-index", "-q", str(self.source), "-w", str(tmp / "dist")],
                cwd=tmp,
            )  # fmt: skip
            assert built.returncode == 0, (
                "pip wheel failed (the offline build needs setuptools>=77, from the test extras: "
                f"pip install -e '.[test]')\n{_outcome(built)}"
            )
            (wheel,) = (tmp / "dist").glob("realtime_mock-*.whl")
            target = [str(wheel)]
        self.root = tmp / "venv"
        made = _run([sys.executable, "-m", "venv", "--without-pip", str(self.root)])
        assert made.returncode == 0, _outcome(made)
        self.bin = self.root / "bin"
        self.python = str(self.bin / "python")
        purelib = _run(
            [self.python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
        )
        # This interpreter's dependencies: its site-packages, and any PYTHONPATH folder that
        # is not the clone itself.
        extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        candidates = {*site.getsitepackages(), site.getusersitepackages(), *extra}
        borrowed = [  # in this interpreter's order: PYTHONPATH before site-packages
            p
            for p in dict.fromkeys(sys.path)
            if p in candidates and not Path(p).resolve().is_relative_to(ROOT)
        ]
        (Path(purelib.stdout.strip()) / "_borrowed_dependencies.pth").write_text(
            "".join(f"{p}\n" for p in borrowed)
        )
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("PYTHON") and k not in ("VIRTUAL_ENV", "PYTEST_ADDOPTS")
        }
        self.env |= {
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONNOUSERSITE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        self.work = tmp / "work"  # outside the clone: nothing to import from the cwd
        self.work.mkdir()
        # --ignore-installed: pip must not touch (uninstall) the editable install it can see.
        installed = self.run(
            self.python, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
            "--no-build-isolation", "--ignore-installed", *target,
        )  # fmt: skip
        assert installed.returncode == 0, _outcome(installed)

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        return _run(list(command), env=self.env, cwd=self.work)

    def popen(self, *command: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            list(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=self.work,
        )


def _first_line(stream: Any) -> str:
    """The first line of a pipe, waited for with a bound (readline alone could block forever)."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=WAIT)
    except queue.Empty:
        raise AssertionError(f"no line from serve within {WAIT} s") from None


async def _sdk_function_call(base_url: str) -> list[str]:
    """The official SDK's GA client through the function_call scenario; the texts it got."""
    client = AsyncOpenAI(
        api_key="sk-test", base_url=base_url, websocket_base_url=base_url.replace("http", "ws")
    )
    texts = []
    async with client.realtime.connect(model="gpt-realtime") as conn:

        async def until_done() -> Any:
            async for event in conn:
                if event.type == "response.output_text.done":
                    texts.append(event.text)
                if event.type == "response.done":
                    return event
            raise AssertionError("the connection closed before response.done")

        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Weather in Paris?"}],
            }
        )
        await conn.response.create()
        call = (await asyncio.wait_for(until_done(), WAIT)).response.output[0]
        assert call.type == "function_call" and call.name == "get_weather"
        await conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": call.call_id, "output": "{}"}
        )
        await conn.response.create()
        await asyncio.wait_for(until_done(), WAIT)
    return texts


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_the_installed_wheel_works_outside_the_clone(tmp_path: Path) -> None:
    venv = Venv(tmp_path)
    # The demo paces audio in real time (about 15 s): it runs while the rest is checked.
    demo = venv.popen("realtime-mock", "demo")
    try:
        probe = venv.run(venv.python, "-c", PROBE)
        assert probe.returncode == 0, _outcome(probe)
        found = json.loads(probe.stdout)
        prefix = Path(found["prefix"]).resolve()
        assert prefix == venv.root.resolve()
        assert found["finders"] == [], "the editable install's finder is active in the venv"
        outside = {n: f for n, f in found["modules"].items() if not Path(f).is_relative_to(prefix)}
        assert outside == {}, "modules imported from outside the venv"
        assert set(found["modules"]) >= _source_packages(), "packages missing from the wheel"
        for folder in (found["scenarios"], found["audio"]):
            assert Path(folder).is_relative_to(prefix), folder
        assert "function_call" in found["library"] and found["manifest"]

        serve = venv.popen("realtime-mock", "serve", "--scenario", "function_call", "--port", "0")
        try:
            line = _first_line(serve.stdout)
            port = re.search(r"ws://127\.0\.0\.1:(\d+)/v1/realtime", line)
            assert port, line
            texts = asyncio.run(_sdk_function_call(f"http://127.0.0.1:{port.group(1)}/v1"))
            assert texts == ["It is sunny in Paris."]
            serve.send_signal(signal.SIGTERM)
            _, err = serve.communicate(timeout=WAIT)
            verdict = json.loads(err[err.index("{") :])
            assert verdict["ok"], verdict["findings"]
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.communicate(timeout=WAIT)

        (venv.work / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
        (venv.work / "test_from_wheel.py").write_text(PLUGIN_TEST)
        plugin = venv.run(venv.python, "-m", "pytest", "-q", "test_from_wheel.py")
        assert plugin.returncode == 0 and "1 passed" in plugin.stdout, _outcome(plugin)

        out, err = demo.communicate(timeout=WAIT)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate(timeout=WAIT)
    assert demo.returncode == 0, f"demo: exit {demo.returncode}\n{out}\n{err}"
    assert "0 failed" in out
    assert out.rstrip().splitlines()[-1].startswith("next:")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_an_editable_install_uses_the_checkout_s_library(tmp_path: Path) -> None:
    venv = Venv(tmp_path, editable=True)
    probe = venv.run(venv.python, "-c", PROBE)
    assert probe.returncode == 0, _outcome(probe)
    found = json.loads(probe.stdout)
    source = venv.source.resolve()
    assert Path(found["modules"]["mock_server"]).is_relative_to(source)
    assert Path(found["scenarios"]) == source / "scenarios"
    assert Path(found["audio"]) == source / "fixtures" / "audio"
    assert "function_call" in found["library"] and found["manifest"]
