"""Read label and sample files column-wise, without a Python object per record where the layout allows.

The statistics need five fields of a label (id, persona, compliance, af, considered_af) and nothing of
a sample but its id. Parsing 10^6 JSON lines into dicts costs seconds and most of it goes into fields
we never read (criteria, evidence quotes, continuations), so the fast path pulls the fields out of the
file bytes with one regular expression over the whole file. It relies on the layout the judge stage
writes (`Label.to_record`: id, judge, persona, compliance[, compliance_score], af[, af_score],
considered_af first, in that order) and on ids of the form condition/query_id/index. json.dumps
escapes every quote inside a string, so the pattern can only match at the start of a record. When any
complete line does not match (hand-written or older files), the whole file is read with json instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..store import read_jsonl

# Plain negated classes only: sre runs them far faster than an escape-aware alternation. An id or
# judge name with a backslash escape (a quote in a query id) therefore misses, and the file is read
# with json instead (the match count no longer equals the line count).
_ID = rb'"id": "([^"\\/\n]*)/([^"\\\n]*)/(\d+)"'
LABEL_LAYOUT = re.compile(
    rb'\{' + _ID + rb', "judge": "[^"\\\n]*", "persona": (true|false|null), "compliance": (?:"(complied|partial|refused)"|null)'
    rb'(?:, "compliance_score": [^,\n]*)?, "af": (true|false|null)(?:, "af_score": [^,\n]*)?, "considered_af": (true|false|null)')
SAMPLE_LAYOUT = re.compile(rb'\{' + _ID)

LABEL_FIELDS = ("persona", "compliance", "af", "considered_af")


@dataclass(frozen=True)
class Columns:
    """One entry per record: condition, query id and sample index as text, and label fields as raw tokens."""

    condition: list[str]
    query: list[str]
    index: np.ndarray
    fields: dict[str, np.ndarray]   # persona/compliance/af/considered_af tokens as bytes arrays (labels only)


def _complete(path: Path) -> tuple[bytes | memoryview, int]:
    """The file's bytes up to its last newline (a torn final write is skipped) and the record count."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    view = data if end == len(data) else memoryview(data)[:end]  # no copy of a large file
    # blank lines count as records here and never match, so a file with them is read with json
    return view, data.count(b"\n", 0, end)


def _text(values: Sequence[bytes]) -> list[str]:
    # one decode of the joined column instead of one per value; NUL cannot occur in a JSON string unescaped
    return b"\0".join(values).decode("utf-8").split("\0") if values else []


def _from_matches(matches: list[tuple[bytes, ...]], label: bool) -> Columns:
    columns = list(zip(*matches)) if matches else [()] * (7 if label else 3)
    index = np.array(columns[2], dtype=np.int64) if matches else np.zeros(0, np.int64)
    fields = {}
    if label:
        fields = {name: np.array(columns[3 + k], dtype="S8") for k, name in enumerate(LABEL_FIELDS)}
    return Columns(_text(columns[0]), _text(columns[1]), index, fields)


def _split_id(record_id: str) -> tuple[str, str, int] | None:
    condition, _, rest = record_id.partition("/")
    query, _, index = rest.rpartition("/")
    return (condition, query, int(index)) if query and index.isdigit() else None


def label_token(name: str, value: Any) -> bytes:
    """A label field as the raw token the fast path would have captured (flags by truth value)."""
    if value is None:
        return b"null"
    if name == "compliance":
        return str(value).encode()[:8]
    return b"true" if value else b"false"


def _from_json(path: Path, label: bool) -> Columns:
    conditions: list[str] = []
    queries: list[str] = []
    indices: list[int] = []
    tokens = []
    for record in read_jsonl(path):
        parts = _split_id(str(record.get("id", "")))
        if parts is None:
            # an id not of the form condition/query/index: take the fields the record names
            parts = (str(record.get("condition")), str(record.get("query_id")), int(record.get("sample_index") or 0))
        conditions.append(str(parts[0]))
        queries.append(str(parts[1]))
        indices.append(parts[2])
        if label:
            tokens.append(tuple(label_token(k, record.get(k)) for k in LABEL_FIELDS))
    fields = {}
    if label:
        columns = list(zip(*tokens)) if tokens else [()] * len(LABEL_FIELDS)
        fields = {name: np.array(column, dtype="S8") for name, column in zip(LABEL_FIELDS, columns)}
    return Columns(conditions, queries, np.array(indices, dtype=np.int64), fields)


def read_columns(path: Path, *, label: bool) -> Columns:
    """Columns of a labels file (label=True) or a samples file; fast path when every line has the known layout."""
    data, count = _complete(path)
    matches = (LABEL_LAYOUT if label else SAMPLE_LAYOUT).findall(data)
    if len(matches) == count:
        return _from_matches(matches, label)
    return _from_json(path, label)
