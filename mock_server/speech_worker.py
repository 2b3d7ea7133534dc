"""The speech worker: a small process that speaks each utterance in a fresh fork of itself.

eSpeak NG keeps state from one utterance to the next (pitch flutter, phase and filter memory)
that no call resets, not even ``espeak_Terminate``; only a library that has never spoken gives
the same samples for the same text every time. This script (standard library only, run by
``mock_server/speech.py`` as ``python -I -S speech_worker.py LIBRARY DATA``) loads the library
once and never speaks itself: for each request it forks, and the child initialises eSpeak NG,
speaks, writes the samples and exits. The process is single-threaded, so forking is safe.

Protocol, one request at a time: the parent writes ``"<nbytes> <pitch> <range>\\n"`` and the
UTF-8 text; the worker answers ``"<rate> <nbytes>\\n"`` and that many bytes of PCM16 samples
(native order) at ``rate``, or ``"error <message>\\n"``. End of input ends the worker.
"""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile
from typing import Any, BinaryIO

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
MAX_TEXT_BYTES = 64_000


def _speak(lib: ctypes.CDLL, data: bytes | None, voice_file: str, text: bytes) -> bytes:
    pieces: list[bytes] = []

    def collect(wav: Any, count: int, _events: Any) -> int:
        if count > 0:
            pieces.append(ctypes.string_at(wav, 2 * count))
        return 0

    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByFile.argtypes = [ctypes.c_char_p]
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INITIALIZE_DONT_EXIT)
    if rate <= 0:
        raise OSError(f"espeak_Initialize failed ({rate})")
    callback = _CALLBACK(collect)
    lib.espeak_SetSynthCallback(callback)
    if lib.espeak_SetVoiceByFile(voice_file.encode()) != 0:
        raise OSError("espeak_SetVoiceByFile failed")
    lib.espeak_ng_SetRandSeed(1)
    status = lib.espeak_Synth(text, len(text) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
    lib.espeak_Synchronize()
    if status != 0:
        raise OSError(f"espeak_Synth failed ({status})")
    return b"%d %d\n" % (rate, 2 * sum(len(p) // 2 for p in pieces)) + b"".join(pieces)


def _voice_file(folder: str, pitch: int, span: int) -> str:
    path = os.path.join(folder, f"mock-{pitch}-{span}")
    if not os.path.exists(path):
        with open(path, "w", encoding="ascii") as file:
            # Flutter off: it carries a phase from one utterance to the next.
            file.write(f"name mock\nlanguage en-us\npitch {pitch} {span}\nflutter 0\n")
    return path


def serve(lib: ctypes.CDLL, data: bytes | None, source: BinaryIO, sink: BinaryIO) -> None:
    folder = tempfile.mkdtemp(prefix="realtime-mock-voices-")
    while True:
        header = source.readline(100)
        if not header:
            return
        nbytes, pitch, span = (int(field) for field in header.split())
        if not 0 <= nbytes <= MAX_TEXT_BYTES:
            sink.write(b"error text too long\n")
            sink.flush()
            return
        text = source.read(nbytes)
        voice = _voice_file(folder, pitch, span)
        sink.flush()
        pid = os.fork()
        if pid == 0:  # the child: a library that has never spoken
            try:
                answer = _speak(lib, data, voice, text)
            except Exception as exc:
                answer = b"error " + str(exc).encode("utf-8", "replace")[:200] + b"\n"
            sink.write(answer)
            sink.flush()
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            sink.write(b"error the speaking process ended with status %d\n" % status)
            sink.flush()


def main() -> None:
    library, data = sys.argv[1], sys.argv[2]
    serve(ctypes.CDLL(library), data.encode() or None, sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
