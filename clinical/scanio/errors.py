"""The single exception type of the scan-ingest library, and the wording its messages share."""

from __future__ import annotations

import re

from qsm.inputs import InputError

#: An upload that cannot be accepted: the very :class:`qsm.InputError` of the CLI, so
#: page, API and command line word a refusal alike.  The message starts with the
#: offending file (its basename as uploaded, or ``archive.zip:member/path`` for a zip
#: member) and ends with what the coordinator should do; ``name``, ``problem`` and
#: ``remedy`` hold the three parts.
UploadError = InputError

# An absolute path of two components or more (``/tmp/x``, ``'/srv/media/.incoming/.../a.zip'``), not ``L/R``.
_SERVER_PATH = re.compile(r"(?<![\w.])/(?:[^\s'\",:;()/]+/)+([^\s'\",:;()/]*)")


def describe_files(names) -> str:
    """'a.zip', 'a and b', or 'IM_0001 and 95 other files', for messages."""
    if len(names) <= 2:
        return " and ".join(names)
    return f"{names[0]} and {len(names) - 1} other files"


def without_paths(text: str) -> str:
    """The text with every absolute server path cut to its last part, the name people know the file by.

    System errors (``OSError``, library messages) name the server's copy, e.g. under MEDIA_ROOT/.incoming;
    a message for people must show neither where the server keeps files nor its temporary names' folders.
    """
    return _SERVER_PATH.sub(lambda match: match.group(1) or "(a server folder)", text)
