#!/usr/bin/env bash
# Canary: does the newest release of each upper-bounded package still work with basepersona?
#
# For every package below whose newest release lies outside pyproject's range, build a venv with
# that release installed *ignoring* the bound and run the sampler tests there, so the next breaking
# release is seen here before a user meets it. Prints one "CANARY:" verdict line per package (with
# the failing tests and their errors) and always exits 0: it informs, it never fails CI.
#
#   bash scripts/check_latest.sh            # packages: transformers gguf inspect-ai
#   CANARY_FORCE=1 bash scripts/check_latest.sh transformers   # run even if the newest is in range
set -uo pipefail
cd "$(dirname "$0")/.."
packages=("$@")
[ ${#packages[@]} -eq 0 ] && packages=(transformers gguf inspect-ai)
venv=${CANARY_VENV:-.venv-canary}
case $venv in /*) ;; *) venv="$PWD/$venv" ;; esac
sampler_tests=(tests/test_decode_check.py tests/test_sampler.py tests/test_sample_run.py tests/test_model_loading_cache.py
               tests/test_embedded_smoke.py)

declared() {  # the range pyproject declares for $1
  python3 - "$1" <<'PY'
import re, sys
text = open("pyproject.toml", encoding="utf-8").read()
match = re.search(r'"' + re.escape(sys.argv[1]) + r'((?:[<>=!~]=?[^",;\]]+,?)+)"', text)
print(match.group(1) if match else "")
PY
}

newest() { pip index versions "$1" 2>/dev/null | sed -n '1s/.*(\(.*\)).*/\1/p'; }

inside() {  # is version $2 inside range $3?
  python3 -c 'import sys; from packaging.specifiers import SpecifierSet as S; sys.exit(0 if S(sys.argv[2]).contains(sys.argv[1], prereleases=True) else 1)' "$1" "$2" 2>/dev/null \
    || "$venv/bin/python" -c 'import sys; from packaging.specifiers import SpecifierSet as S; sys.exit(0 if S(sys.argv[2]).contains(sys.argv[1], prereleases=True) else 1)' "$1" "$2"
}

for package in "${packages[@]}"; do
  range=$(declared "$package"); latest=$(newest "$package")
  if [ -z "$latest" ]; then
    echo "CANARY: $package: could not read the newest version from the package index; nothing checked"; continue
  fi
  if inside "$latest" "$range" && [ -z "${CANARY_FORCE:-}" ]; then
    echo "CANARY: $package $latest (newest) is inside the tested range $range; nothing to check"; continue
  fi
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" && "$venv/bin/pip" install -q torch==2.13.0 && "$venv/bin/pip" install -q -e ".[test]" \
      || { echo "CANARY: could not build $venv; nothing checked"; continue; }
  fi
  # --no-deps keeps the rest of the tested set; pip would otherwise refuse the out-of-range release
  if ! "$venv/bin/pip" install -q --no-deps "$package==$latest" 2>/dev/null; then
    echo "CANARY: $package $latest does not install; nothing checked"; continue
  fi
  where="outside the tested range $range"
  inside "$latest" "$range" && where="inside the tested range $range; forced"
  log=$(mktemp)
  tests=("${sampler_tests[@]}")
  [ "$package" = inspect-ai ] && tests=(tests/test_inspect.py tests/test_inspect_coalesce.py tests/test_inspect_server.py)
  # the venv's bin first: the smoke test runs the installed `basepersona` command
  PATH="$venv/bin:$PATH" "$venv/bin/python" -m pytest -q -p no:cacheprovider -rf "${tests[@]}" \
    -k "not inside_the_declared_range" >"$log" 2>&1
  status=$?
  if [ $status -eq 0 ]; then
    echo "CANARY: $package $latest ($where): its tests pass"
  else
    echo "CANARY: $package $latest ($where) BREAKS basepersona: $(grep -c '^FAILED' "$log") test(s) fail:"
    grep '^FAILED' "$log" | head -10 | sed 's/^/CANARY:   /'
    grep -m1 -E '^E +[A-Za-z]+(Error|Exception)' "$log" | sed 's/^E */CANARY:   first error: /'
  fi
  rm -f "$log"
  "$venv/bin/pip" install -q -e ".[test]" >/dev/null 2>&1  # back to the tested set for the next package
done
exit 0
