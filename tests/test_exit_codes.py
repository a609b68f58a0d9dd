"""Exit codes as a shell sees them: the real `basepersona` process, not click's in-process runner.

The README documents 0 (success), 1 (a check failed), 2 (user error) and 130 (interrupted); a CI
pipeline relies on these, so they are read here from subprocesses.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def basepersona(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "basepersona", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def frames_dir(tmp_path: Path) -> Path:
    """A folder with one good frame and one whose template does not end with its turn marker."""
    source = (ROOT / "frames" / "chatlog.toml").read_text(encoding="utf-8")
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "good.toml").write_text(source.replace('name = "chatlog"', 'name = "good"'), encoding="utf-8")
    broken = source.replace('name = "chatlog"', 'name = "broken"').replace("\n[AI]\n\"\"\"", "\n[ASSISTANT]\n\"\"\"")
    assert broken != source.replace('name = "chatlog"', 'name = "broken"')
    (folder / "broken.toml").write_text(broken, encoding="utf-8")
    return folder


def test_frames_lint_exits_1_on_a_broken_frame_and_0_on_a_good_one(frames_dir: Path, tmp_path: Path):
    failed = basepersona("frames", "lint", "--frames", "broken", "--frames-dir", str(frames_dir), cwd=tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "1 error(s)" in failed.stdout
    passed = basepersona("frames", "lint", "--frames", "good", "--frames-dir", str(frames_dir), cwd=tmp_path)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "0 error(s)" in passed.stdout


def test_user_error_is_one_line_and_exit_2(tmp_path: Path):
    result = basepersona("frames", "show", "no-such-frame", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("error:")
    assert len(result.stderr.strip().splitlines()) == 1


def test_usage_error_exits_2_and_help_exits_0(tmp_path: Path):
    bad_option = basepersona("sample", "--no-such-option", cwd=tmp_path)
    assert bad_option.returncode == 2
    assert "No such option" in bad_option.stderr
    helped = basepersona("--help", cwd=tmp_path)
    assert helped.returncode == 0
    assert "sample" in helped.stdout
