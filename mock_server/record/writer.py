"""Writing a recording: the scenario as YAML, its audio as WAV fixtures beside it.

The YAML is the library's format, in the order the steps happened; ``usage`` figures (long and
rarely edited) are written on one line. The fixtures are PCM16 24 kHz, whatever the connection's
format was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mock_server import audio


class _Flow(dict[str, Any]):
    """A mapping written on one line (usage figures: long, and rarely edited)."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Flow, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, True)
)


def _compact(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        inner = {k: _compact(v, k) for k, v in value.items()}
        return _Flow(inner) if key == "usage" else inner
    if isinstance(value, list):
        return [_compact(v, key) for v in value]
    return value


@dataclass
class Recording:
    """A scenario made from one connection: its data and its audio fixtures (PCM16 24 kHz)."""

    data: dict[str, Any]
    audio: dict[str, bytes] = field(default_factory=dict)

    def write(self, path: Path) -> list[Path]:
        """Write the scenario and its fixtures beside it; returns the files written."""
        path.parent.mkdir(parents=True, exist_ok=True)
        written = []
        for name, pcm in self.audio.items():
            audio.write_wav(path.parent / name, pcm)
            written.append(path.parent / name)
        text = yaml.dump(
            _compact(self.data), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100
        )
        path.write_text("# Recorded by realtime-mock record; see docs/recording.md.\n" + text)
        return [path, *written]


def episode_path(out: Path, number: int) -> Path:
    """The file of the ``number``-th recorded connection: ``NAME.yaml``, ``NAME-2.yaml``, ...

    >>> str(episode_path(Path("rec/chat.yaml"), 1)), str(episode_path(Path("rec/chat.yaml"), 3))
    ('rec/chat.yaml', 'rec/chat-3.yaml')
    """
    return out if number == 1 else out.with_name(f"{out.stem}-{number}{out.suffix}")


def recorded_episodes(out: Path) -> list[Path]:
    """The files already recorded for ``out``, in connection order (stops at the first gap)."""
    found: list[Path] = []
    while episode_path(out, len(found) + 1).exists():
        found.append(episode_path(out, len(found) + 1))
    return found
