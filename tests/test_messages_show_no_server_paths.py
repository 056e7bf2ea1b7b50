"""Messages name the user's file, never where the server keeps it (/tmp/..., MEDIA_ROOT/.incoming/...)."""
from __future__ import annotations

import pytest

from clinical.scanio.errors import without_paths


@pytest.mark.parametrize("text, shown", [
    ("[Errno 2] No such file or directory: '/srv/media/.incoming/1f/files/series.zip'",
     "[Errno 2] No such file or directory: 'series.zip'"),
    ("Cannot read /tmp/tmpa1b2c3upload.zip here", "Cannot read tmpa1b2c3upload.zip here"),
    ("[Errno 21] Is a directory: '/srv/media/.incoming/1f/files/'", "[Errno 21] Is a directory: '(a server folder)'"),
    ("LMC/RMC and 3/4 echoes, 10 of 12", "LMC/RMC and 3/4 echoes, 10 of 12"),
])
def test_server_paths_are_cut_to_the_file_name(text, shown):
    assert without_paths(text) == shown

