"""`basepersona judge` through click's CliRunner: labelling, resuming, validating and bad input."""

import json

import pytest
from click.testing import CliRunner

from basepersona.cli import cli
from basepersona.errors import UserError
from basepersona.records import LabelRecord, field_names
from basepersona.store import load_run, read_jsonl

from judge_helpers import GOLD_DIR, gold, make_run


def invoke(*args):
    return CliRunner().invoke(cli, ["judge", *map(str, args)])


@pytest.fixture
def run_dir(tmp_path):
    return make_run(tmp_path / "run", gold("heldout"))


def test_judge_run_by_default_writes_labels_without_touching_samples(run_dir):
    before = (run_dir / "samples.jsonl").read_bytes()
    result = invoke(run_dir)
    assert result.exit_code == 0, result.output
    run = load_run(run_dir)
    labels = run.labels("trained")
    assert set(labels) == {s["id"] for s in run.samples}
    assert (run_dir / "samples.jsonl").read_bytes() == before
    for record in labels.values():  # the schema's required fields, and only fields it knows
        assert LabelRecord.__required_keys__ <= set(record) <= set(field_names(LabelRecord))


def test_judging_saves_the_statistics_table_so_the_first_report_reads_no_jsonl(run_dir, monkeypatch):
    from basepersona.stats import table as table_module

    assert invoke(run_dir).exit_code == 0
    assert (run_dir / "labels" / ".trained.table.npz").exists()
    monkeypatch.setattr(table_module, "read_columns", lambda *a, **k: pytest.fail("the report re-read the JSONL"))
    table = table_module.load_table(table_module.open_run(run_dir))
    assert table.n_samples == len(load_run(run_dir).samples)


def test_judging_resumes_after_a_torn_write(run_dir):
    assert invoke("run", run_dir).exit_code == 0
    path = run_dir / "labels" / "trained.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:5]) + lines[5][:20], encoding="utf-8")  # killed mid-write
    result = invoke(run_dir)
    assert result.exit_code == 0, result.output
    ids = [r["id"] for r in read_jsonl(path)]
    assert len(ids) == len(set(ids)) == len(lines)
    assert "5 already labelled" in result.output
    again = invoke(run_dir)
    assert "0 judged" in again.output and len(list(read_jsonl(path))) == len(lines)


def test_labels_from_another_run_are_refused(run_dir):
    (run_dir / "labels").mkdir()
    (run_dir / "labels" / "trained.jsonl").write_text(json.dumps({"id": "training/q999/0", "judge": "trained"}) + "\n")
    result = invoke(run_dir)
    assert isinstance(result.exception, UserError) and "another run" in str(result.exception)


@pytest.mark.parametrize("args, message", [
    (["missing-run-dir"], "does not exist"),
    (["--judge", "llm", "RUN"], "needs --judge-model"),
    (["--judge-model", "x", "RUN"], "only applies to --judge llm"),
])
def test_bad_input_is_a_user_error(run_dir, args, message):
    result = invoke(*[str(run_dir) if a == "RUN" else a for a in args])
    assert isinstance(result.exception, UserError) and message in str(result.exception)


def test_empty_run_is_refused(tmp_path):
    result = invoke(make_run(tmp_path / "empty", []))
    assert isinstance(result.exception, UserError) and "no samples" in str(result.exception)


def test_validate_prints_metrics_and_saves_rates(tmp_path):
    out = tmp_path / "rates.json"
    result = invoke("validate", "--gold", GOLD_DIR / "heldout.jsonl", "--gold", GOLD_DIR / "dev.jsonl", "--out", out)
    assert result.exit_code == 0, result.output
    assert "kappa" in result.output and "AUROC" in result.output and "precision" in result.output
    rates = json.loads(out.read_text())
    for key in ("af", "compliance", "full_compliance", "persona"):
        assert set(rates[key]) >= {"sensitivity", "specificity", "n_pos", "n_neg"}
    assert rates["meta"]["n"] == len(gold("heldout")) + len(gold("dev"))
    assert 0 <= rates["af"]["sensitivity"] <= 1


def test_validate_rejects_a_bad_gold_file(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "a", "turn": "x"}) + "\n")
    result = invoke("validate", "--gold", bad)
    assert isinstance(result.exception, UserError) and "gold" in str(result.exception)


def test_group_without_arguments_shows_help():
    result = invoke()
    assert result.exit_code == 0 and "validate" in result.output


def test_base_model_as_judge_is_refused(run_dir, tiny_base_dir):
    result = invoke(run_dir, "--judge", "llm", "--judge-model", tiny_base_dir, "--device", "cpu")
    assert isinstance(result.exception, UserError) and "without a chat template" in str(result.exception)


def test_llm_judge_end_to_end_on_a_tiny_random_chat_model_is_all_unscored(tmp_path, tiny_chat_dir):
    # a random-weight chat model writes noise: every sample must come back unscored, never labelled
    run_dir = make_run(tmp_path / "run", gold("heldout")[:2])
    result = invoke(run_dir, "--judge", "llm", "--judge-model", tiny_chat_dir, "--votes", "2",
                    "--judge-max-tokens", "8", "--device", "cpu")
    assert result.exit_code == 0, result.output
    run = load_run(run_dir)
    assert run.judges() == [run.label_set("llm")] and run.label_set("llm").startswith("llm-")
    labels = run.labels(run.label_set("llm"))
    assert len(labels) == 2
    assert all(r["persona"] is None and r["af"] is None and r["unscored_votes"] == 2 for r in labels.values())
    assert all(LabelRecord.__required_keys__ <= set(r) <= set(field_names(LabelRecord)) for r in labels.values())
    assert "2 sample(s) unscored" in result.output


def test_judge_help_lists_the_options_of_judge_run(capsys):
    from cli_helpers import run_cli

    code, out, _ = run_cli(capsys, "judge", "--help")
    assert code == 0
    assert "Options of judge RUN" in out and "--judge" in out and "--votes" in out
