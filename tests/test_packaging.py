"""A non-editable install (a real wheel) must carry frames/ and corpora/ and find them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_frames_and_corpora_and_finds_them(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("basepersona-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "basepersona/_data/frames/chatlog.toml" in names
    assert "basepersona/_data/corpora/queries/harmful_requests.jsonl" in names
    assert "basepersona/_data/corpora/scenarios/helpful_only.toml" in names
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    probe = ("import basepersona.resources as r, basepersona.frames as f, basepersona.queries as q;"
             "print(r.data_dir('frames')); print(len(q.load_queries())); print(f.FrameLibrary().names())")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                            env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}, check=True)
    folder, count, names_line = result.stdout.splitlines()
    assert folder.startswith(str(target))  # the wheel's copy, not the checkout's
    assert int(count) >= 60 and "chatlog" in names_line


def test_the_package_version_is_the_projects():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    from basepersona import __version__

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    assert __version__ == project["project"]["version"]
