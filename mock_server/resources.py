"""Where the scenario library and the audio fixtures are: the one place that knows.

In a source checkout (and an editable install of one) they are the top-level ``scenarios/`` and
``fixtures/`` folders beside ``mock_server/``. A wheel carries the same files as package data of
``mock_server`` (``mock_server/_scenarios/`` and ``mock_server/_fixtures/audio/``, mapped in
``pyproject.toml``), found with :mod:`importlib.resources`. The installed copy is looked for
first, so that a ``scenarios/`` folder that happens to sit beside ``site-packages/mock_server``
is never taken for the library; the checkout's folders are used only where the package itself
carries none, and only when a ``pyproject.toml`` beside them says that this is a checkout.

>>> (SCENARIOS / "function_call.yaml").is_file(), (AUDIO / "manifest.yaml").is_file()
(True, True)
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

_PACKAGE = Path(str(files("mock_server")))
_CHECKOUT = _PACKAGE.parent


def _locate(installed: str, checkout: str) -> Path:
    carried = _PACKAGE / installed
    if carried.is_dir():
        return carried
    in_checkout = _CHECKOUT / checkout
    if in_checkout.is_dir() and (_CHECKOUT / "pyproject.toml").is_file():
        return in_checkout
    # Neither: return the installed location anyway, so that the error a caller reports
    # (see missing()) names where the files should have been.
    return carried


def missing(folder: Path, what: str) -> str:
    """The message for a library folder that is not there: where it was looked for, and why."""
    return (
        f"the {what} is missing: {folder} does not exist (realtime-mock's wheel carries it as "
        f"package data; reinstall the package, or run from a checkout that has "
        f"{_CHECKOUT / 'scenarios'} and {_CHECKOUT / 'fixtures'})"
    )


#: The scenario library: ``NAME.yaml`` for ``--scenario NAME``.
SCENARIOS = _locate("_scenarios", "scenarios")
#: The fixtures folder, which ``fixture:audio/NAME.wav`` references in scenarios resolve against.
FIXTURES = _locate("_fixtures", "fixtures")
#: The audio fixtures and their ``manifest.yaml`` (transcripts, measured speech segments).
AUDIO = FIXTURES / "audio"
