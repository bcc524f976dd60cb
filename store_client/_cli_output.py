"""Output of the ``resumable`` command: lines that always print, errors on one line.

How it works: a stored value may hold text that the terminal cannot encode: a lone
surrogate written through the Python API (JSON can carry ``"\\ud800"``, UTF-8 cannot),
or any non-ASCII text when stdout is not UTF-8. :func:`emit` checks a line against the
stream's encoding first and, when it does not encode, prints it escaped instead of
raising ``UnicodeEncodeError``: JSON documents as ASCII JSON (``ensure_ascii``, still the
same JSON), text with Python's ``\\uXXXX`` escapes. :func:`escaping_streams` does the
same for any ``print`` (the commands of extensions) while a command runs, by switching
stdout's error handler to ``backslashreplace``. :func:`report` prints an error message
as exactly one line on stderr.

What it does not do: change the text of values that encode, or page long output.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, TextIO

__all__ = ["emit", "emit_json", "escaping_streams", "report", "silence_stdout"]

_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


def _encodes(text: str, stream: TextIO) -> bool:
    if text.isascii():
        return True
    try:
        text.encode(getattr(stream, "encoding", None) or "utf-8")
    except UnicodeEncodeError:
        return False
    except LookupError:  # an encoding Python does not know: let the stream decide
        return True
    return True


def _escaped(text: str, stream: TextIO) -> str:
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        return text.encode(encoding, "backslashreplace").decode(encoding)
    except LookupError:
        return text.encode("ascii", "backslashreplace").decode("ascii")


def emit(text: str, *, stream: TextIO | None = None) -> None:
    """Print one line; characters the stream cannot encode are printed escaped."""
    out = sys.stdout if stream is None else stream
    out.write((text if _encodes(text, out) else _escaped(text, out)) + "\n")


def emit_json(document: Any, *, prefix: str = "") -> None:
    """Print ``prefix`` and a JSON document; as ASCII JSON if stdout cannot encode it."""
    text = prefix + json.dumps(document, ensure_ascii=False, sort_keys=True)
    if not _encodes(text, sys.stdout):
        text = prefix + json.dumps(document, ensure_ascii=True, sort_keys=True)
    emit(text)


def report(message: str) -> None:
    """Print ``message`` on stderr as exactly one line."""
    emit(_LINE_BREAKS.sub(" ", message.strip()), stream=sys.stderr)


@contextmanager
def escaping_streams() -> Iterator[None]:
    """While the block runs, stdout and stderr escape what they cannot encode."""
    restore: list[tuple[io.TextIOWrapper, str]] = []
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            with suppress(ValueError, OSError):  # closed, or a broken pipe on flush
                stream.reconfigure(errors="backslashreplace")
                restore.append((stream, "strict"))
    try:
        yield
    finally:
        for stream, errors in restore:
            with suppress(ValueError, OSError):
                stream.reconfigure(errors=errors)


def silence_stdout() -> None:
    """The reader of stdout went away: send what is left to /dev/null, quietly."""
    with suppress(OSError, ValueError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
