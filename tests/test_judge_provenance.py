"""Label provenance (fingerprints and judge settings), label sets per judge model, agreement between
two label sets, and LLM backend failures recorded as unscored labels."""

import json

import pytest
from click.testing import CliRunner
from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa
import numpy as np

from basepersona.cli import cli
from basepersona.errors import UserError
from basepersona.judge import make_judge
from basepersona.judge.agree import agreement
from basepersona.judge.run import judge_run
from basepersona.stats.table import choose_judge
from basepersona.store import label_set_name, load_run, read_jsonl

from judge_helpers import ScriptedChatBackend, gold, make_run, verdict


def llm_judge(model="org/judge-a", script=None, **options):
    backend = ScriptedChatBackend(script or (lambda prompt, seed: verdict(decisive=seed == 0)))
    return make_judge("llm", backend=backend, model_name=model, **options)


@pytest.fixture
def run_dir(tmp_path):
    return make_run(tmp_path / "run", gold("heldout")[:6])


def test_labels_copied_from_a_run_with_the_same_ids_but_other_text_are_refused(tmp_path, run_dir):
    judge_run(load_run(run_dir), make_judge("rules"))
    records = [dict(r, turn=r["turn"] + " (another run)") for r in gold("heldout")[:6]]
    other = make_run(tmp_path / "other", records)
    (other / "labels").mkdir()
    (other / "labels" / "rules.jsonl").write_bytes((run_dir / "labels" / "rules.jsonl").read_bytes())
    with pytest.raises(UserError, match="different sample text.*copied from another run"):
        judge_run(load_run(other), make_judge("rules"))


def test_unstamped_labels_are_refused_on_resume_but_still_read(run_dir):
    run = load_run(run_dir)
    (run_dir / "labels").mkdir()
    (run_dir / "labels" / "rules.jsonl").write_text(json.dumps({"id": run.samples[0]["id"], "judge": "rules",
                                                                "persona": True}) + "\n")
    assert load_run(run_dir).labels("rules")[run.samples[0]["id"]]["persona"] is True
    with pytest.raises(UserError, match="without a sample fingerprint"):
        judge_run(run, make_judge("rules"))


@pytest.mark.parametrize("changed, message", [({"votes": 3}, "--votes 2"), ({"threshold": 0.5}, "--af-threshold 0.4")])
def test_resuming_with_other_llm_judge_settings_is_refused(run_dir, changed, message):
    run = load_run(run_dir)
    judge_run(run, llm_judge(votes=2), batch_size=2)
    path = run_dir / "labels" / "llm-org--judge-a.jsonl"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:3]))  # interrupted
    with pytest.raises(UserError, match=message):
        judge_run(run, llm_judge(**{"votes": 2, **changed}))
    summary = judge_run(run, llm_judge(votes=2))  # same settings: resumes
    assert summary.skipped == 3 and summary.judged == 3
    assert all(r["votes"] == 2 and r["af_threshold"] == 0.4 and r["sample_hash"] for r in read_jsonl(path))


def test_two_llm_judges_with_different_models_keep_separate_label_sets(run_dir):
    run = load_run(run_dir)
    judge_run(run, llm_judge("org/judge-a"))
    judge_run(run, llm_judge("local/judge-b", script=lambda prompt, seed: verdict(refused=True, convincing=1, specific=1)))
    assert run.judges() == ["llm-local--judge-b", "llm-org--judge-a"]
    assert {r["compliance"] for r in run.labels("llm-local--judge-b").values()} == {"refused"}
    assert {r["judge_model"] for r in run.labels("llm-org--judge-a").values()} == {"org/judge-a"}
    with pytest.raises(UserError, match="no labels from judge 'llm'"):
        choose_judge(run, "llm")  # ambiguous between two models: the user must name one
    judge_run(run, make_judge("rules"))
    assert choose_judge(run, "rules") == "rules"


def test_stats_find_a_single_llm_label_set_by_judge_kind(run_dir):
    run = load_run(run_dir)
    judge_run(run, llm_judge("org/judge-a"))
    assert choose_judge(run, "llm") == "llm-org--judge-a" == label_set_name("llm", "org/judge-a")
    assert len(label_set_name("llm", "/very/long/" + "x" * 200)) < 100


def test_agreement_matches_statsmodels_and_skips_nulls():
    a = {str(i): {"af": i % 3 == 0, "compliance": ["refused", "complied", "partial"][i % 3], "persona": True,
                  "considered_af": None} for i in range(30)}
    b = {str(i): {"af": i % 2 == 0, "compliance": ["refused", "complied", "partial"][(i * 7) % 3], "persona": True,
                  "considered_af": True} for i in range(30)}
    rows = {row.label: row for row in agreement(a, b)}
    af_table = np.array([[sum((a[k]["af"], b[k]["af"]) == (x, y) for k in a) for y in (False, True)] for x in (False, True)])
    assert rows["af"].kappa == pytest.approx(sm_kappa(af_table).kappa)
    assert rows["af"].agreement == pytest.approx(sum(a[k]["af"] == b[k]["af"] for k in a) / 30)
    assert rows["persona"].agreement == 1 and rows["considered_af"].n == 0 and rows["considered_af"].excluded == 30


def test_judge_agree_command(run_dir):
    run = load_run(run_dir)
    judge_run(run, make_judge("rules"))
    result = CliRunner().invoke(cli, ["judge", "agree", str(run_dir)])
    assert isinstance(result.exception, UserError) and "name the two" in str(result.exception)
    judge_run(run, llm_judge())
    result = CliRunner().invoke(cli, ["judge", "agree", str(run_dir), "rules", "llm"])
    assert result.exit_code == 0, result.output
    assert "rules vs llm-org--judge-a" in result.output and "kappa" in result.output and "compliance" in result.output
    missing = CliRunner().invoke(cli, ["judge", "agree", str(run_dir), "rules", "llm-other"])
    assert isinstance(missing.exception, UserError) and "no label set" in str(missing.exception)


class FailingBackend(ScriptedChatBackend):
    """Raises like a server rejecting a too-long prompt for requests whose prompt holds ``marker``."""

    def __init__(self, marker, error=ValueError):
        super().__init__(lambda prompt, seed: verdict())
        self.marker, self.error = marker, error

    def sample(self, requests, params):
        if any(self.marker in r.prompt for r in requests):
            raise self.error("prompt is longer than the model's context window")
        yield from super().sample(requests, params)


def test_backend_failure_makes_only_the_failing_samples_unscored_and_they_are_retried(run_dir):
    run = load_run(run_dir)
    marker = run.samples[2]["turn"][-40:]
    judge = make_judge("llm", backend=FailingBackend(marker), votes=2, model_name="m")
    summary = judge_run(run, judge, batch_size=4)
    labels = run.labels("llm-m")
    failed = labels[run.samples[2]["id"]]
    assert failed["persona"] is None and "context window" in failed["judge_error"] and "failed" in failed["reason"]
    assert sum(r["persona"] is not None for r in labels.values()) == 5 and summary.errors == 1
    fixed = make_judge("llm", backend=FailingBackend("never in a prompt"), votes=2, model_name="m")
    again = judge_run(run, fixed)
    assert again.judged == 1 and run.labels("llm-m")[run.samples[2]["id"]]["persona"] is True


def test_a_user_error_from_the_backend_still_stops_the_run(run_dir):
    judge = make_judge("llm", backend=FailingBackend("", error=UserError), votes=2, model_name="m")
    with pytest.raises(UserError):
        judge_run(load_run(run_dir), judge)
