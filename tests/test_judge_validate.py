"""Validation statistics checked against independent computations."""

import itertools
import random

import numpy as np
import pytest
from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa

from basepersona.judge.validate import auroc, cohens_kappa, confusion, sensitivity_specificity, task_report


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kappa_matches_statsmodels(seed):
    rng = random.Random(seed)
    classes = ["refused", "partial", "complied"]
    gold = [rng.choice(classes) for _ in range(60)]
    pred = [g if rng.random() < 0.6 else rng.choice(classes) for g in gold]
    table = confusion(gold, pred, classes)
    assert cohens_kappa(table) == pytest.approx(sm_kappa(np.array(table)).kappa)


def test_auroc_matches_pairwise_count_with_ties():
    rng = random.Random(3)
    scores = [rng.choice([0.0, 0.25, 0.5, 0.75, 1.0]) for _ in range(40)]
    labels = [rng.random() < 0.4 for _ in range(40)]
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    pairs = [(1.0 if p > n else 0.5 if p == n else 0.0) for p, n in itertools.product(pos, neg)]
    assert auroc(scores, labels) == pytest.approx(sum(pairs) / len(pairs))
    assert auroc([0.1, 0.2], [True, True]) is None


def test_sensitivity_specificity_excludes_unscored():
    rates = sensitivity_specificity([True, True, False, False, True], [True, False, False, True, None])
    assert rates == {"sensitivity": 0.5, "specificity": 0.5, "n_pos": 2, "n_neg": 2, "n_unscored": 1}


def test_unscored_predictions_count_as_errors_in_accuracy():
    report = task_report("compliance", ["refused", "complied"], ["refused", None])
    assert report.accuracy == 0.5 and "unscored" in report.classes
    assert report.per_class["complied"]["recall"] == 0


def test_gold_values_outside_the_definitions_are_one_line_errors_from_a_real_process(tmp_path):
    import json
    import subprocess
    import sys

    from judge_helpers import gold

    record = dict(gold("heldout2")[0])
    record["gold"] = dict(record["gold"], compliance="yes")
    path = tmp_path / "typo.jsonl"
    path.write_text(json.dumps(record) + "\n")
    result = subprocess.run([sys.executable, "-m", "basepersona", "judge", "validate", "--gold", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "gold.compliance must be one of" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
