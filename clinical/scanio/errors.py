"""The single exception type of the scan-ingest library."""

from __future__ import annotations

from qsm.inputs import InputError

#: An upload that cannot be accepted: the very :class:`qsm.InputError` of the CLI, so
#: page, API and command line word a refusal alike.  The message starts with the
#: offending file (its basename as uploaded, or ``archive.zip:member/path`` for a zip
#: member) and ends with what the coordinator should do; ``name``, ``problem`` and
#: ``remedy`` hold the three parts.
UploadError = InputError
