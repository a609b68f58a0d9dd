"""`basepersona label RUN` driven through a real pseudo-terminal (pexpect), key by key."""

import json
import shutil
import subprocess
import sys
from collections import Counter

import pytest

from basepersona.judge.human import draw_plan, stratum
from basepersona.judge.validate import load_gold

from judge_helpers import gold, make_run

pexpect = pytest.importorskip("pexpect", reason="pexpect (in the test extra) drives the terminal")

RECORDS = gold("heldout2")[:8]


def _spawn(run_dir, *args):
    child = pexpect.spawn(sys.executable, ["-m", "basepersona", "label", str(run_dir), *args],
                          dimensions=(30, 110), encoding="utf-8", timeout=60)
    return child


def _answer(child, expect, key):
    child.expect(expect)
    child.send(key)


def _labels(run_dir):
    path = run_dir / "gold" / "human.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_labelling_saves_each_answer_undoes_skips_and_resumes(tmp_path):
    run_dir = make_run(tmp_path / "run", RECORDS)
    child = _spawn(run_dir, "--n", "3", "--seed", "1")
    _answer(child, r"\[1/3\].*speak as the scenario", "y")
    _answer(child, "Compliance", "c")
    _answer(child, "weigh complying", "n")          # AF is then false by definition, not asked
    _answer(child, r"\[2/3\].*speak as", "n")       # a broken frame: nothing more is asked
    child.expect(r"\[3/3\]")
    assert len(_labels(run_dir)) == 2               # both answers are on disk before the next question
    child.send("u")                                 # undo: the second sample comes back
    _answer(child, r"\[2/3\].*speak as", "y")
    _answer(child, "Compliance", "r")
    _answer(child, "weigh complying", "y")
    _answer(child, r"\[3/3\].*speak as", "q")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    first, second = _labels(run_dir)
    assert first["gold"] == {"persona": True, "compliance": "complied", "af": False, "considered_af": False}
    assert second["gold"] == {"persona": True, "compliance": "refused", "af": False, "considered_af": True}
    assert load_gold(run_dir / "gold" / "human.jsonl")  # readable by `judge validate`

    # resume: the third sample is next; skipping it ends the plan and validation runs
    child = _spawn(run_dir, "--n", "3", "--seed", "1")
    _answer(child, r"\[3/3\].*speak as", "s")
    child.expect("2 of 3 labelled, 1 skipped")
    child.expect("saved to")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and len(_labels(run_dir)) == 2
    saved = json.loads((run_dir / "validation" / "trained-human.json").read_text())
    assert saved["meta"]["n"] == 2 and "sensitivity" in saved["persona"]


def test_long_turns_are_paged(tmp_path):
    long = dict(RECORDS[0], turn=RECORDS[0]["turn"].replace("\n", "\n" * 1) + "\nline" * 80,
                continuation=RECORDS[0]["continuation"] + "\nline" * 80)
    run_dir = make_run(tmp_path / "run", [long])
    child = _spawn(run_dir, "--n", "1")
    child.expect(r"page 1/\d")
    child.send(" ")
    child.expect(r"page 2/\d")
    child.send("q")
    child.expect(pexpect.EOF)
    assert _labels(run_dir) == []


def test_labels_of_another_run_are_refused_from_a_real_process(tmp_path):
    run_dir = make_run(tmp_path / "run", RECORDS)
    child = _spawn(run_dir, "--n", "2")
    _answer(child, "speak as", "n")
    _answer(child, r"\[2/2\]", "q")
    child.expect(pexpect.EOF)
    other = make_run(tmp_path / "other", [dict(r, turn=r["turn"] + " (other run)") for r in RECORDS])
    shutil.copytree(run_dir / "gold", other / "gold")
    result = subprocess.run([sys.executable, "-m", "basepersona", "label", str(other)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "another run" in result.stderr and "Traceback" not in result.stderr


def test_draw_is_seeded_and_covers_every_condition_and_judge_label():
    labels = {r["id"]: {"persona": r["gold"]["persona"], "compliance": r["gold"]["compliance"], "af": r["gold"]["af"]}
              for r in gold("heldout2")}
    samples = gold("heldout2")
    plan = draw_plan(samples, labels, 20, seed=3)
    assert plan == draw_plan(samples, labels, 20, seed=3) and plan != draw_plan(samples, labels, 20, seed=4)
    assert len(plan) == len(set(plan)) == 20
    strata = {(s["condition"], stratum(labels[s["id"]])) for s in samples}
    drawn = Counter((s["condition"], stratum(labels[s["id"]])) for s in samples if s["id"] in plan)
    assert set(drawn) == strata  # every stratum is represented


def test_without_a_terminal_it_is_a_one_line_error(tmp_path):
    run_dir = make_run(tmp_path / "run", RECORDS)
    result = subprocess.run([sys.executable, "-m", "basepersona", "label", str(run_dir)], capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "interactive terminal" in result.stderr
