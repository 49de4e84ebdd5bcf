"""Batch manifests: every row is checked before any token is touched; errors name the row."""

import pytest

from baoling.provisioning.batch import Row, read_manifest
from baoling.provisioning.errors import BadManifest


def test_defaults_fill_missing_columns(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("label,period\nalice,60\nbob,\n")
    assert read_manifest(path) == [
        Row(1, "alice", "", "sha1", 6, 60, 0),
        Row(2, "bob", "", "sha1", 6, 30, 0),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name,issuer\nalice,ACME\n",
            "needs a header line with the columns label and optionally issuer, algorithm, digits, "
            "period, slot; it has: name, issuer.",
        ),
        ("label,digits\nalice,9\n", "row 1: digits must be 6, 7 or 8, not 9"),
        ("label,period\nalice,thirty\n", "row 1: period must be a whole number, not 'thirty'."),
        (
            "label,algorithm\nalice,sha1\nbob,md5\n",
            "row 2: algorithm must be sha1, sha256 or sha512, not 'md5'",
        ),
        ("label\n", "has no rows."),
        (
            'label,issuer\n"ab\ncd",ACME\n',
            "row 1: Label 'ab\\ncd' has a control character, which a token cannot show.",
        ),
        ('label,issuer\n"alice,ACME\n', "line 2: not CSV (unexpected end of data)."),
    ],
)
def test_bad_manifest_is_refused_with_its_row(tmp_path, text, message):
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(BadManifest) as caught:
        read_manifest(path)
    assert str(caught.value).startswith(f"Manifest {path}")
    assert str(caught.value).endswith(message)
