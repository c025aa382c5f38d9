#!/usr/bin/env bash
# The ArviZ 1.x integration tests, in a second virtual environment.
#
# ArviZ 1.x (arviz, arviz-base, arviz-stats, arviz-plots) declares Requires-Python >= 3.12; on
# Python 3.11 pip quietly resolves `arviz` to the legacy 0.23 line, which is what the project's
# own environment gets. This script builds `.venv-arviz1` (no system site packages), installs
# probgates into it, forces the ArviZ 1.3 packages over the legacy one with
# --ignore-requires-python --no-deps, adds their runtime dependencies by hand, and runs the
# tests marked `arviz1` (the tests marked for ArviZ 0.2x skip there).
#
# Usage: bash ci/arviz1.sh [extra pytest arguments]
# Environment: PYTHON (default python3), ARVIZ1_VENV (default .venv-arviz1),
#              TORCH (default torch==2.13.0: the CPU build used everywhere else).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${ARVIZ1_VENV:-.venv-arviz1}
TORCH=${TORCH:-torch==2.13.0}
BIN=$VENV/bin
start=$(date +%s)

echo "== environment $VENV"
test -x "$BIN/python" || "$PYTHON" -m venv "$VENV"
"$BIN/python" -c "import torch" 2>/dev/null || "$BIN/python" -m pip install --quiet "$TORCH"
"$BIN/python" -m pip install --quiet -e ".[dev]"
# ArviZ 1.x on Python 3.11: forced, without its metadata's dependency resolution.
"$BIN/python" -m pip install --quiet --ignore-requires-python --no-deps \
    arviz==1.3.0 arviz-base==1.3.1 arviz-stats==1.3.3 arviz-plots==1.3.2
# What the four packages import at run time (numpy, scipy, xarray and matplotlib come with
# probgates); h5netcdf writes the netCDF files (arviz 0.2x used to pull it in).
"$BIN/python" -m pip install --quiet xarray-einstats lazy_loader pandas h5netcdf
"$BIN/python" -c "import arviz, sys; v = arviz.__version__; print('arviz', v); sys.exit(not v.startswith('1.'))"

echo "== ArviZ 1.x tests"
set +e
"$BIN/python" -m pytest -m arviz1 tests/diagnostics "$@"
status=$?
set -e
echo "ci/arviz1.sh: $(( $(date +%s) - start )) s"
# pytest exits 5 when no test was collected: that is a failure here.
exit $status
