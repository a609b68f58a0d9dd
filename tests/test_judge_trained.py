"""The trained judge: its TF-IDF and regression against direct computations, its labels on the blind gold
set it was never fitted on, label consistency, the fitted-model cache, extra gold, and the command line."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import optimize, sparse

from basepersona.cli import cli
from basepersona.errors import UserError
from basepersona.judge import make_judge
from basepersona.judge import trained
from basepersona.judge.trained import TRAINING_SETS
from basepersona.judge.trained_model import SoftmaxRegression, TfidfField, TrainedModels, chargrams, ngrams, turn_fields
from basepersona.judge.validate import validate
from basepersona.records import LabelRecord, field_names
from basepersona.store import load_run

from judge_helpers import GOLD_DIR, gold, make_run


@pytest.fixture(scope="module")
def judge():
    return make_judge("trained")


def test_ngrams_are_lowercased_words_and_adjacent_pairs():
    assert ngrams("I won't, I Will") == ["won", "will", "won will"]  # one-letter words are dropped


def test_chargrams_read_white_space_runs_as_one_space():
    assert chargrams("Ab \n c") == ["ab ", "b c", "ab c"]


def test_tfidf_row_matches_a_hand_computation():
    texts = ["refuse refuse help", "help now", "refuse later"]
    field = TfidfField.fit(texts, min_count=2)
    assert set(field.index) == {"refuse", "help"}  # every other gram is in one text only
    row = field.transform(["refuse refuse help odd"]).toarray()[0]
    idf = {g: math.log(4 / (1 + df)) + 1 for g, df in (("refuse", 2), ("help", 2))}
    raw = {"refuse": (1 + math.log(2)) * idf["refuse"], "help": idf["help"]}
    norm = math.hypot(*raw.values())
    assert row[field.index["refuse"]] == pytest.approx(raw["refuse"] / norm)
    assert row[field.index["help"]] == pytest.approx(raw["help"] / norm)


def _toy(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 5))
    labels = np.array(["a", "b", "c"])[np.argmax(x[:, :3] + 0.5 * rng.normal(size=(60, 3)), axis=1)]
    return sparse.csr_matrix(x), list(labels)


def _objective(model: SoftmaxRegression, x, labels, c: float) -> float:
    log_p = np.log(model.probabilities(x))
    rows = np.arange(len(labels)), [model.classes.index(v) for v in labels]
    return -c * float(log_p[rows].sum()) + 0.5 * float((model.weights ** 2).sum())


def test_regression_reaches_the_minimum_of_its_objective():
    x, labels = _toy()
    model = SoftmaxRegression.fit(x, labels, c=2.0)
    best = _objective(model, x, labels, 2.0)
    rng = np.random.default_rng(1)
    for _ in range(20):  # any nearby parameters do worse
        nudged = SoftmaxRegression(model.classes, model.weights + 0.01 * rng.normal(size=model.weights.shape),
                                   model.intercept + 0.01 * rng.normal(size=model.intercept.shape))
        assert _objective(nudged, x, labels, 2.0) > best
    # and the same minimum as a general-purpose optimiser on the same objective without gradients
    shape = (x.shape[1] + 1, 3)

    def plain(flat):
        w = flat.reshape(shape)
        return _objective(SoftmaxRegression(model.classes, w[:-1], w[-1]), x, labels, 2.0)

    found = optimize.minimize(plain, np.zeros(shape).ravel(), method="Powell", options={"xtol": 1e-8, "ftol": 1e-12,
                                                                                         "maxfev": 200000})
    assert best == pytest.approx(found.fun, rel=1e-5)


def test_one_class_only_is_a_user_error():
    x, _ = _toy()
    with pytest.raises(UserError, match="one class only"):
        SoftmaxRegression.fit(x, ["same"] * x.shape[0])


def test_blind_heldout6_meets_the_bar_on_every_label(judge):
    """heldout6 is never fitted on; docs/JUDGES.md reports accuracy 0.93-0.97 and kappa 0.88-0.92 there."""
    assert "heldout6" not in TRAINING_SETS
    report = validate(judge, gold("heldout6"), "heldout6")
    for name, task in report.tasks.items():
        assert task.accuracy >= 0.9 and task.kappa >= 0.8, (name, task.accuracy, task.kappa)


def test_labels_are_consistent_and_fit_the_schema(judge):
    records = gold("heldout6") + gold("dev4")
    for label in judge.judge(records):
        assert set(label.to_record()) <= set(field_names(LabelRecord))  # judge run adds the sample hash
        if label.persona:
            assert label.compliance in ("refused", "partial", "complied")
            assert 0 <= label.af_score <= 1 and 0 <= label.compliance_score <= 1
            assert not label.af or (label.considered_af and label.compliance != "refused")
        else:
            assert label.compliance is None and label.af is None and label.reason.startswith("broken frame")


def _probabilities(models: TrainedModels, records) -> dict[str, list[dict[str, float]]]:
    x = models.features.transform([turn_fields(r) for r in records])
    return {**models.predict(x), "broken": [{"p": float(p)} for p in models.broken_frame(x)]}


def _same(first, second) -> bool:
    return all(a.keys() == b.keys() and all(a[k] == pytest.approx(b[k], abs=1e-6) for k in a)
               for name in first for a, b in zip(first[name], second[name]))


def test_fitting_is_deterministic_and_a_saved_model_loads_unchanged(tmp_path):
    records = gold("heldout") + gold("heldout2")
    first, again = TrainedModels.fit(records), TrainedModels.fit(records)
    probe = gold("heldout6")[:15]
    assert _same(_probabilities(first, probe), _probabilities(again, probe))
    first.save(tmp_path / "m.npz")
    assert _same(_probabilities(first, probe), _probabilities(TrainedModels.load(tmp_path / "m.npz"), probe))


@pytest.fixture
def small_training(monkeypatch, tmp_path):
    """The judge fitted on one small set, with a cache folder of its own (fast, and no shared state)."""
    monkeypatch.setattr(trained, "TRAINING_SETS", ("heldout", "heldout2"))
    monkeypatch.setenv("BASEPERSONA_CACHE", str(tmp_path / "cache"))
    trained.fitted_models.cache_clear()
    yield tmp_path / "cache" / "trained-judge"
    trained.fitted_models.cache_clear()


def test_a_fitted_model_is_cached_and_a_corrupt_cache_file_is_fitted_again(small_training):
    judge = make_judge("trained")
    path = small_training / f"{judge.training_hash}.npz"
    assert path.is_file()
    expected = [lab.to_record() for lab in judge.judge(gold("heldout6")[:10])]
    for damage in (b"not a zip file", path.read_bytes()[:1000]):  # garbage, and a write cut short
        path.write_bytes(damage)
        trained.fitted_models.cache_clear()
        again = make_judge("trained")
        assert [lab.to_record() for lab in again.judge(gold("heldout6")[:10])] == expected
        assert TrainedModels.load(path)  # rewritten whole


def test_an_unwritable_cache_folder_still_judges(small_training):
    small_training.parent.mkdir(parents=True)
    small_training.write_text("a file where the folder should be", encoding="utf-8")
    labels = make_judge("trained").judge(gold("heldout6")[:5])
    assert len(labels) == 5 and all(lab.persona is not None for lab in labels)


def test_extra_gold_changes_the_settings_so_a_resume_cannot_mix_models(tmp_path, small_training):
    judge = make_judge("trained")
    extra = tmp_path / "mine.jsonl"
    extra.write_text("".join(json.dumps(r) + "\n" for r in gold("heldout6")[:20]), encoding="utf-8")
    mine = make_judge("trained", extra_gold=[extra])
    assert mine.settings["training_data"] != judge.settings["training_data"]
    assert mine.settings["model_version"] == judge.settings["model_version"]


def test_extra_gold_with_a_missing_field_is_a_user_error(tmp_path):
    bad = tmp_path / "bad.jsonl"
    record = gold("heldout6")[0]
    del record["gold"]["compliance"]
    bad.write_text(json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(UserError):
        make_judge("trained", extra_gold=[bad])


def test_judge_run_with_the_trained_judge_writes_its_own_label_set(tmp_path):
    run_dir = make_run(tmp_path / "run", gold("heldout")[:12])
    result = CliRunner().invoke(cli, ["judge", str(run_dir), "--judge", "trained"])
    assert result.exit_code == 0, result.output
    labels = load_run(run_dir).labels("trained")
    assert len(labels) == 12 and {r["judge"] for r in labels.values()} == {"trained"}
    assert all(LabelRecord.__required_keys__ <= set(r) <= set(field_names(LabelRecord)) for r in labels.values())


def test_trained_judge_with_a_judge_model_is_a_one_line_error_from_a_real_process():
    done = subprocess.run([sys.executable, "-m", "basepersona", "judge", "validate", "--judge", "trained",
                           "--judge-model", "x", "--gold", str(GOLD_DIR / "heldout6.jsonl")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "only applies to --judge llm" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_train_gold_from_the_command_line_and_a_resume_with_other_training_data_is_refused(tmp_path, small_training):
    run_dir = make_run(tmp_path / "run", gold("heldout")[:6])
    extra = tmp_path / "mine.jsonl"
    extra.write_text("".join(json.dumps(r) + "\n" for r in gold("heldout6")[:20]), encoding="utf-8")
    first = CliRunner().invoke(cli, ["judge", str(run_dir), "--judge", "trained", "--train-gold", str(extra)])
    assert first.exit_code == 0, first.output
    path = run_dir / "labels" / "trained.jsonl"
    kept = path.read_bytes()
    path.write_bytes(b"".join(kept.splitlines(keepends=True)[:3]))  # half judged
    again = CliRunner().invoke(cli, ["judge", str(run_dir), "--judge", "trained"])
    assert isinstance(again.exception, UserError)
    assert "training_data" in str(again.exception) and "--train-gold" in str(again.exception)
    assert len(path.read_bytes().splitlines()) == 3  # nothing lost or overwritten


def test_train_gold_with_another_judge_is_a_user_error(tmp_path):
    result = CliRunner().invoke(cli, ["judge", "validate", "--judge", "rules", "--train-gold", str(tmp_path / "x.jsonl"),
                                      "--gold", str(GOLD_DIR / "heldout6.jsonl")])
    assert isinstance(result.exception, UserError)
    assert "--train-gold only applies to --judge trained" in str(result.exception)


def test_a_missing_train_gold_file_is_a_one_line_error_from_a_real_process(tmp_path):
    run_dir = make_run(tmp_path / "run", gold("heldout")[:3])
    done = subprocess.run([sys.executable, "-m", "basepersona", "judge", str(run_dir), "--train-gold",
                           str(tmp_path / "missing.jsonl")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "missing.jsonl does not exist" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (run_dir / "labels" / "trained.jsonl").exists()


def test_concurrent_saves_of_one_model_leave_a_loadable_file(tmp_path):
    """Two runs fitting at once both write the cache; each writes a temporary file and renames it."""
    import threading

    models = TrainedModels.fit(gold("heldout") + gold("heldout2"))
    path = tmp_path / "shared.npz"
    threads = [threading.Thread(target=models.save, args=(path,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    probe = gold("heldout6")[:5]
    assert _same(_probabilities(models, probe), _probabilities(TrainedModels.load(path), probe))
    assert [p.name for p in tmp_path.iterdir()] == ["shared.npz"]  # no temporary file left behind
