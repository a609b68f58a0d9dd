"""Query sets: the built-in harmful requests and user files (JSONL or CSV, incl. AdvBench's `goal`)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from .errors import UserError
from .resources import data_dir

BUILTIN = "harmful_requests"
# Column names accepted for the request text, in order of preference (AdvBench uses "goal").
TEXT_FIELDS = ("text", "query", "prompt", "goal", "request", "instruction", "behavior")
ID_FIELDS = ("id", "query_id", "qid")
CATEGORY_FIELDS = ("category", "type", "semantic_category")


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    category: str = ""


@dataclass(frozen=True)
class QuerySet:
    source: str
    queries: tuple[Query, ...]

    @property
    def content_hash(self) -> str:
        payload = json.dumps([[q.id, q.text, q.category] for q in self.queries]).encode()
        return "sha256:" + hashlib.sha256(payload).hexdigest()[:16]

    def select(self, ids: Sequence[str] = (), limit: int | None = None) -> "QuerySet":
        """Keep the given ids (in the given order) and/or the first ``limit`` queries."""
        chosen = list(self.queries)
        if ids:
            by_id = {q.id: q for q in self.queries}
            missing = [i for i in ids if i not in by_id]
            if missing:
                raise UserError(f"query id(s) not in {self.source}: {', '.join(missing[:5])}")
            chosen = [by_id[i] for i in ids]
        if limit is not None:
            chosen = chosen[:limit]
        return QuerySet(self.source, tuple(chosen))

    def settings(self) -> dict[str, Any]:
        return {"source": self.source, "hash": self.content_hash, "ids": [q.id for q in self.queries]}

    def __len__(self) -> int:
        return len(self.queries)


def _pick(row: dict[str, Any], names: Iterable[str]) -> Any:
    lowered = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
    for name in names:
        value = lowered.get(name)
        if value not in (None, ""):
            return value
    return None


def _to_query(row: dict[str, Any], number: int, where: str) -> Query:
    text = _pick(row, TEXT_FIELDS)
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{where}: line {number} has no request text; give one of the fields {', '.join(TEXT_FIELDS)}")
    query_id = _pick(row, ID_FIELDS)
    category = _pick(row, CATEGORY_FIELDS)
    return Query(id=str(query_id) if query_id is not None else f"q{number:03d}", text=text.strip(),
                 category=str(category or ""))


def _text(path: Path) -> str:
    """The file's text; a BOM (Excel, Notepad) is dropped, bytes that are not UTF-8 are one error line."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise UserError(f"{path}: line {line} is not UTF-8 text; save the file as UTF-8") from None
    except OSError as exc:
        raise UserError(f"cannot read query file {path}: {exc.strerror or exc}") from None


def _read_jsonl(path: Path) -> list[Query]:
    queries = []
    for number, line in enumerate(_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}: line {number} is not valid JSON ({exc.msg}); fix or remove it") from None
        if isinstance(row, str):
            row = {"text": row}
        if not isinstance(row, dict):
            raise UserError(f"{path}: line {number} must be a JSON object or string")
        queries.append(_to_query(row, number, str(path)))
    return queries


def _read_csv(path: Path) -> list[Query]:
    reader = csv.DictReader(io.StringIO(_text(path), newline=""))
    if not reader.fieldnames or not any(f.strip().lower() in TEXT_FIELDS for f in reader.fieldnames):
        raise UserError(f"{path}: line 1 (header) needs a text column named one of {', '.join(TEXT_FIELDS)}")
    try:
        # data rows start on line 2 (after the header)
        return [_to_query(row, number, str(path)) for number, row in enumerate(reader, start=2)]
    except csv.Error as exc:
        raise UserError(f"{path}: line {reader.line_num} is not valid CSV ({exc})") from None


def load_queries(source: str | Path | None = None) -> QuerySet:
    """Load the built-in set (None or "builtin") or a user's .jsonl/.csv file."""
    if source in (None, "builtin", BUILTIN, f"builtin:{BUILTIN}"):
        path = data_dir("corpora") / "queries" / f"{BUILTIN}.jsonl"
        return QuerySet(f"builtin:{BUILTIN}", tuple(_read_jsonl(path)))
    path = Path(source)
    if not path.exists():
        raise UserError(f"query file {path} does not exist")
    if not path.is_file():
        raise UserError(f"query file {path} is a directory, not a .jsonl or .csv file")
    if path.suffix.lower() == ".csv":
        queries = _read_csv(path)
    elif path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        queries = _read_jsonl(path)
    else:
        raise UserError(f"query file {path} must end in .jsonl or .csv")
    if not queries:
        raise UserError(f"query file {path} holds no queries")
    seen: set[str] = set()
    for query in queries:
        if query.id in seen:
            raise UserError(f"{path}: query id {query.id!r} appears twice; ids must be unique")
        seen.add(query.id)
    return QuerySet(str(path), tuple(queries))
