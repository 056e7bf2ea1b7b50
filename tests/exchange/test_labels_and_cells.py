"""BIDS labels from study codes, session labels from dates, and TSV cells that survive a round trip."""
import datetime as dt

import pytest

from exchange import bids


def test_codes_become_unique_alphanumeric_labels():
    labels = bids.participant_labels(["ALS-01", "ALS01", "als_01", "PLS-1", "--"])
    assert labels == {"ALS01": "ALS01", "ALS-01": "ALS01x2", "als_01": "als01x3", "PLS-1": "PLS1", "--": "P"}
    assert all(label.isalnum() for label in labels.values())


def test_two_scans_on_one_day_get_distinct_sessions():
    day, other = dt.date(2024, 3, 5), dt.date(2024, 4, 1)
    assert bids.session_labels([day, other, day, day]) == ["20240305", "20240401", "20240305b", "20240305c"]


@pytest.mark.parametrize("value", ["plain", "tab\there", "two\nlines", "back\\slash\\n", "cr\r\n"])
def test_free_text_survives_a_tsv_cell(value):
    cell = bids.cell(value)
    assert "\t" not in cell and "\n" not in cell and bids.uncell(cell) == value


def test_missing_values_booleans_and_dates_use_bids_spellings():
    assert [bids.cell(v) for v in (None, "", True, False, dt.date(2024, 1, 2), 3)] == [
        "n/a", "n/a", "true", "false", "2024-01-02", "3"]
    header, rows = bids.read_tsv(bids.write_tsv(["a", "b"], [{"a": None, "b": "x\ty"}]), "t.tsv")
    assert header == ["a", "b"] and rows == [{"a": "", "b": "x\ty"}]


def test_a_ragged_table_names_the_file_and_line():
    with pytest.raises(ValueError, match=r"participants.tsv, line 3: 1 cells for 2 columns"):
        bids.read_tsv(b"a\tb\n1\t2\n3\n", "participants.tsv")
