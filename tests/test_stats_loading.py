"""Reading labels and samples column-wise: the fast path equals a plain JSON read, and falls back safely."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from basepersona.errors import UserError
from basepersona.stats.records import read_columns
from basepersona.stats.synthetic import write_run
from basepersona.stats.table import OUTCOMES, load_table, open_run
from basepersona.store import LABELS_DIR, SAMPLES, load_run

QUERIES = ["q/with/slash", 'q"quote', "q3", "q4"]


def _expected(run_dir: Path, judge: str = "rules") -> dict[tuple[str, str, int], tuple]:
    """(condition, query, index) -> outcomes, read the slow obvious way."""
    run = load_run(run_dir)
    labels = run.labels(judge)
    out = {}
    for sample in run.samples:
        label = labels.get(sample["id"])
        if label is None:
            values = (np.nan,) * len(OUTCOMES)
        else:
            c = label["compliance"]
            flags = [np.nan if label[k] is None else float(label[k]) for k in ("af", "considered_af", "persona")]
            values = tuple(np.nan if c is None else float(c == k) for k in ("complied", "partial", "refused")) + tuple(flags)
        out[(sample["condition"], sample["query_id"], sample["sample_index"])] = values
    return out


def _actual(run_dir: Path) -> dict[tuple[str, str, int], tuple]:
    for saved in (run_dir / LABELS_DIR).glob(".*.npz"):
        saved.unlink()  # read the JSONL itself, not the saved table
    table = load_table(open_run(run_dir))
    return {(table.conditions[c], table.queries[q], int(i)): tuple(table.outcomes[k][row] for k in OUTCOMES)
            for row, (c, q, i) in enumerate(zip(table.condition, table.query, table.sample_index))}


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(np.array(a[key]), np.array(b[key]))


def test_fast_read_equals_json_read_with_awkward_query_ids(tmp_path):
    run = write_run(tmp_path / "run", rates={"training": 0.5, "unmonitored": 0.3}, n=3, query_ids=QUERIES,
                    persona_rate=0.7, seed=4)
    _same(_actual(run), _expected(run))
    table = load_table(open_run(run))
    assert table.queries == QUERIES and table.unlabelled == 0


def test_unusual_layout_falls_back_to_json_and_gives_the_same_table(tmp_path):
    run = write_run(tmp_path / "run", rates={"training": 0.5, "unmonitored": 0.3}, n=2, query_ids=QUERIES, seed=5)
    path = run / LABELS_DIR / "rules.jsonl"
    fast = _actual(run)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    # keys in another order, as a hand-written file might have them: no line fits the fast layout
    path.write_text("".join(json.dumps(dict(reversed(list(r.items())))) + "\n" for r in records))
    assert len(read_columns(path, label=True).condition) == len(records)
    _same(_actual(run), fast)


def test_partly_labelled_run_reads_samples_and_notes_the_rest(tmp_path):
    run = write_run(tmp_path / "run", rates={"training": 0.5, "unmonitored": 0.3}, n=3, query_ids=QUERIES, seed=6)
    path = run / LABELS_DIR / "rules.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    # drop three labels, label the first sample twice (re-judged: the newest label counts) and tear the last line
    relabelled = json.loads(lines[0])
    relabelled["persona"], relabelled["compliance"] = False, None
    path.write_text(lines[0] + "".join(lines[4:]) + json.dumps(relabelled) + "\n" + lines[5][:20])
    table = load_table(open_run(run))
    assert table.n_samples == len(load_run(run).samples) and table.unlabelled == 3
    assert any("3 of 24 samples have no rules label" in note for note in table.notes)
    _same(_actual(run), _expected(run))


def test_missing_samples_file_and_empty_labels_are_one_line_errors(tmp_path):
    run = write_run(tmp_path / "run", rates={"training": 0.5, "unmonitored": 0.3}, n=2, query_ids=QUERIES, seed=7)
    path = run / LABELS_DIR / "rules.jsonl"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[2:]))
    (run / SAMPLES).unlink()
    with pytest.raises(UserError, match="holds no samples yet"):
        load_table(open_run(run))
    path.write_text("")
    with pytest.raises(UserError, match="is empty; run `basepersona judge"):
        load_table(open_run(run))
    with pytest.raises(UserError, match="does not exist"):
        open_run(tmp_path / "nowhere")


def test_saved_table_is_reused_until_a_source_file_changes(tmp_path, monkeypatch):
    from basepersona.stats import table as table_module

    run = write_run(tmp_path / "run", rates={"training": 0.5, "unmonitored": 0.3}, n=2, query_ids=QUERIES, seed=8)
    first = load_table(open_run(run))
    assert (run / LABELS_DIR / ".rules.table.npz").exists()

    def no_reading(*args, **kwargs):
        raise AssertionError("the JSONL was read although the saved table is current")

    with monkeypatch.context() as patch:
        patch.setattr(table_module, "read_columns", no_reading)
        again = load_table(open_run(run))
    assert again.queries == first.queries and again.conditions == first.conditions
    for key in OUTCOMES:
        np.testing.assert_array_equal(again.outcomes[key], first.outcomes[key])
    # one more (re-judged) label appended: the saved table is stale and the file is read again
    path = run / LABELS_DIR / "rules.jsonl"
    record = json.loads(path.read_text().splitlines()[0])
    record["persona"], record["compliance"] = False, None
    with path.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
    changed = load_table(open_run(run))
    assert first.outcomes["persona"][0] == 1 and not np.isnan(first.outcomes["compliance"][0])
    assert changed.outcomes["persona"][0] == 0 and np.isnan(changed.outcomes["compliance"][0])
