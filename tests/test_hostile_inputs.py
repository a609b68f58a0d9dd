"""Bad inputs a user can hand the pipeline: each is one line and exit 2 from a real process (or a
UserError in-process where the exit code is checked elsewhere), never a traceback or silent garbage."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from basepersona.errors import UserError
from basepersona.frames import load_frame_file
from basepersona.queries import load_queries
from basepersona.scenario import load_scenario
from basepersona.templating import Template


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "basepersona", *args], capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 2, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def sample(model: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return cli("sample", "--model", str(model), "--device", "cpu", "--limit", "1", "--n", "1", "--max-new-tokens", "2",
               "--out", str(out), *extra)


# -- template resource bombs and errors -------------------------------------------------------

BOMBS = {
    "huge repeat": "{{ 'a' * 10**10 }}",
    "huge range": "{% for i in range(10**9) %}x{% endfor %}",
    "huge power": "{{ 9 ** 99999 }}",
    "endless recursion": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "exponential recursion": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    "huge padding call": "{{ 'x'.ljust(10**10) }}",
    "huge padding filter": "{{ 'x' | center(10**10) }}",
    "nested loops": "{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}",
    "format width": "{{ '%0999999999d' % 1 }}",
    "accumulator": "{% set ns = namespace(s='a') %}{% for i in range(99) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "filler text": "{{ lipsum(10**6) }}",
    "replace blow-up": "{{ ('a' * 999999) | replace('a', 'a' * 999999) }}",
    "division by zero": "{{ 1 / 0 }}",
    "text plus number": "{{ query + 1 }}",
}


@pytest.mark.parametrize("source", BOMBS.values(), ids=BOMBS.keys())
def test_a_template_bomb_is_one_error_within_seconds(source):
    began = time.perf_counter()
    with pytest.raises(UserError, match="field 'template'"):
        Template(source, origin=None, field="template").render(query="q")
    assert time.perf_counter() - began < 8


def test_ordinary_templates_still_render():
    source = "{% for i in range(3) %}{{ i * 2 }}{{ '-' * 3 }}{% endfor %}{{ query | upper | center(12) }}{{ 2 ** 10 }}"
    assert Template(source, origin=None, field="template").render(query="ab") == "0---2---4---     AB     1024"


def _frame(folder: Path, name: str, template: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f'turn_start = "AI:"\nstop = ["User:"]\ntemplate = """{template}"""\n', encoding="utf-8")
    return path


def test_a_recursive_macro_frame_is_one_line_from_the_cli(tmp_path):
    frame = _frame(tmp_path, "bomb", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}{{ user_input }}AI:")
    result = cli("frames", "render", str(frame))
    assert_one_line_error(result, "recursion too deep", "bomb.toml")


def test_frame_files_that_are_not_text_or_not_strings(tmp_path):
    numeric = tmp_path / "numeric.toml"
    numeric.write_text('turn_start = "AI:"\nstop = ["User:"]\ntemplate = 42\n')
    with pytest.raises(UserError, match="must be text"):
        load_frame_file(numeric)
    latin = tmp_path / "latin.toml"
    latin.write_bytes('turn_start = "AI:"\nstop = ["User:"]\ntemplate = "caf\xe9 {{ user_input }}AI:"\n'.encode("latin-1"))
    assert_one_line_error(cli("frames", "render", str(latin)), "not UTF-8")


# -- query files --------------------------------------------------------------------------------

def test_query_files_that_are_not_utf8_or_not_files(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"text": "fine"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(UserError, match="line 2 is not UTF-8"):
        load_queries(bad)
    folder = tmp_path / "x.jsonl"
    folder.mkdir()
    assert_one_line_error(cli("sample", "--queries", str(folder), "--out", str(tmp_path / "r")), "is a directory")


def test_a_csv_with_a_byte_order_mark_keeps_its_ids(tmp_path):
    path = tmp_path / "advbench.csv"
    path.write_text("id,goal\nA7,Write a poem\nB9,Write a song\n", encoding="utf-8-sig")
    assert [q.id for q in load_queries(path).queries] == ["A7", "B9"]
    only_goal = tmp_path / "goal.csv"
    only_goal.write_text("goal,target\nWrite a poem,Sure\n", encoding="utf-8-sig")
    assert load_queries(only_goal).queries[0].text == "Write a poem"


# -- settings that would be silently wrong ---------------------------------------------------

@pytest.mark.parametrize("flags, message", [(("--temperature", "nan"), "--temperature must be a finite number"),
                                            (("--top-p", "inf"), "--top-p must be a finite number"),
                                            (("--set", "lab_name=X"), "did you mean 'lab'"),
                                            (("--device", "bogus"), "unknown --device 'bogus'"),
                                            (("--device", "cuda"), "--device cuda: "),
                                            (("--device", "cuda:7"), "--device cuda:7: ")])
def test_settings_that_cannot_work_are_refused(tiny_base_dir, tmp_path, flags, message):
    out = tmp_path / "run"
    assert_one_line_error(sample(tiny_base_dir, out, *flags), message)
    assert not out.exists()


def test_variant_switches_that_are_off_read_false():
    frame_context = load_scenario("helpful_only").variant_context()
    assert frame_context["three_tier"] is False
    assert load_scenario("helpful_only", variants=("three_tier",)).variant_context()["three_tier"] is True
    source = "{% if variant.three_tier %}three{% else %}two{% endif %}"
    assert Template(source, origin=None, field="t").render(variant=frame_context) == "two"


def test_a_frame_that_drops_the_cue_is_refused(tiny_base_dir, tmp_path):
    frame = _frame(tmp_path, "nocue", "User asks: {{ query }}\\nAI:")
    out = tmp_path / "run"
    assert_one_line_error(sample(tiny_base_dir, out, "--frame", str(frame)), "render the same prompt", "user_input")
    assert not out.exists()


# -- models and manifests ----------------------------------------------------------------------

def test_a_model_folder_without_tokenizer_or_with_cut_weights(tiny_base_dir, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(tiny_base_dir, bare)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (bare / name).unlink(missing_ok=True)
    assert_one_line_error(sample(bare, tmp_path / "r1"), "has no tokenizer files")
    cut = tmp_path / "cut"
    shutil.copytree(tiny_base_dir, cut)
    weights = cut / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert_one_line_error(sample(cut, tmp_path / "r2"), "model.safetensors is damaged (cut off")
    (cut / "model.safetensors").write_bytes(b"garbage, not weights at all")
    assert_one_line_error(sample(cut, tmp_path / "r3"), "is damaged")


@pytest.mark.parametrize("manifest", ["{not json", "{}", "[]"])
def test_a_damaged_manifest_on_resume_is_one_line(tiny_base_dir, tmp_path, manifest):
    out = tmp_path / "run"
    out.mkdir()
    (out / "manifest.json").write_text(manifest)
    assert_one_line_error(sample(tiny_base_dir, out, "--resume"), "manifest.json")


def test_a_query_longer_than_the_context_is_refused_before_sampling(tiny_base_dir, tmp_path):
    queries = tmp_path / "long.jsonl"
    queries.write_text(json.dumps({"id": "huge", "text": "word " * 200_000}) + "\n")
    out = tmp_path / "run"
    result = sample(tiny_base_dir, out, "--queries", str(queries))
    assert_one_line_error(result, "/huge is", "context of 4,096 tokens")
    assert not out.exists()


@pytest.mark.parametrize("base_url, message", [("notaurl", "base_url must be an http"), ("5", "base_url must be an http")])
def test_a_server_address_that_is_not_one_is_refused(tmp_path, base_url, message):
    result = cli("sample", "--backend", "openai", "--model", "m", "-o", f"base_url={base_url}", "--out", str(tmp_path / "r"))
    assert_one_line_error(result, message)


@pytest.mark.parametrize("field", ['turn_start = 42', 'description = ["a"]', 'kind = 1'])
def test_frame_fields_of_the_wrong_type(tmp_path, field):
    path = tmp_path / "typed.toml"
    lines = {"turn_start": 'turn_start = "AI:"', "description": "", "kind": ""}
    lines[field.split(" ")[0]] = field
    path.write_text("\n".join(lines.values()) + '\nstop = ["User:"]\ntemplate = "{{ user_input }}AI:"\n')
    with pytest.raises(UserError, match="must be text"):
        load_frame_file(path)


def test_scoring_refuses_an_empty_continuation(tiny_base_dir, tmp_path):
    result = cli("score", "--model", str(tiny_base_dir), "-o", "device=cpu", "--limit", "1", "--accept", " ",
                 "--out", str(tmp_path / "r"))
    assert_one_line_error(result, "must be non-empty text")


def test_frames_render_refuses_a_set_key_nothing_reads():
    assert_one_line_error(cli("frames", "render", "chatlog", "--set", "lab_nme=X"), "did you mean 'lab'")
    assert cli("frames", "render", "chatlog", "--set", "lab=OtherLab").returncode == 0
