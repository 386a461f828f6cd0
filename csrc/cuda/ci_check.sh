#!/usr/bin/env bash
# CUDA checks that need no GPU (issue #8). Called from .ci/run; prints what it verified.
#   1. nvcc present: configure + build libnashmp with NASHMP_ENABLE_CUDA=ON in a temporary folder
#      (the CUDA C must compile and link for sm_80 and sm_90), run its CTest suite (the CUDA
#      build's test accepts "0 devices"), check that the fatbinary holds both architectures and
#      that libnashmp exports only nashmp_* symbols, every CUDA entry point of nashmp_cuda.h
#      among them.
#   2. A CPU-only build (NASHMP_ENABLE_CUDA=OFF): the stubs answer NASHMP_ERR_UNSUPPORTED.
#   3. Unless --c-only: the numba-cuda kernels and solver under the CUDA simulator
#      (tests/cuda_sim/sim_cuda.py, NUMBA_ENABLE_CUDASIM=1) against the installed nashmp.
#      tests/test_cuda.py runs the same suite, so a .ci/run that runs tests/ can pass --c-only.
# Environment: PYTHON (default python3), NASHMP_CI_JOBS (default 2).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
JOBS="${NASHMP_CI_JOBS:-2}"
PY="${PYTHON:-python3}"
C_ONLY=0
[ "${1:-}" = "--c-only" ] && C_ONLY=1
TMP="$(mktemp -d "${TMPDIR:-/tmp}/nashmp-cuda-ci.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

NVCC="$(command -v nvcc || true)"
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
if [ -n "$NVCC" ]; then
  echo "== CUDA build (NASHMP_ENABLE_CUDA=ON, $("$NVCC" --version | tail -n 2 | head -n 1))"
  cmake -S "$ROOT" -B "$TMP/cuda" -DNASHMP_ENABLE_CUDA=ON -DCMAKE_BUILD_TYPE=Release \
        -DNASHMP_BUILD_TESTS=ON -DCMAKE_CUDA_COMPILER="$NVCC" > "$TMP/cuda.log" 2>&1 \
    || { cat "$TMP/cuda.log"; exit 1; }
  cmake --build "$TMP/cuda" -j "$JOBS" >> "$TMP/cuda.log" 2>&1 || { cat "$TMP/cuda.log"; exit 1; }
  (cd "$TMP/cuda" && ctest --output-on-failure)
  LIB="$(ls "$TMP"/cuda/csrc/libnashmp.so.* | head -n 1)"
  BAD="$(nm -D --defined-only "$LIB" | awk '$2 ~ /^[TDBi]$/ {print $3}' | grep -v '^nashmp_' || true)"
  [ -z "$BAD" ] || { echo "libnashmp exports non-nashmp symbols: $BAD"; exit 1; }
  NCU="$(nm -D --defined-only "$LIB" | grep -c ' nashmp_cuda_' || true)"
  WANT="$(grep -c '^NASHMP_API [^(]*nashmp_cuda_' "$ROOT/csrc/include/nashmp/nashmp_cuda.h")"
  [ "$NCU" -eq "$WANT" ] || { echo "expected $WANT nashmp_cuda_* exports (nashmp_cuda.h), found $NCU"; exit 1; }
  echo "libnashmp exports all $NCU nashmp_cuda_* entry points of nashmp_cuda.h"
  CUOBJDUMP="$(command -v cuobjdump || echo "$(dirname "$NVCC")/cuobjdump")"
  if [ -x "$CUOBJDUMP" ]; then
    ARCHS="$("$CUOBJDUMP" --list-elf "$LIB" | grep -o 'sm_[0-9]*' | sort -u | tr '\n' ' ')"
    echo "device code in libnashmp: $ARCHS"
  else   # no cuobjdump in this toolkit: read the code generation flags of the build instead
    ARCHS="$(grep -rho 'code=\[compute_[0-9]*,sm_[0-9]*\]' "$TMP/cuda/csrc/CMakeFiles" \
             | grep -o 'sm_[0-9]*' | sort -u | tr '\n' ' ')"
    echo "device code generated for: $ARCHS(from the nvcc flags; cuobjdump not installed)"
  fi
  case "$ARCHS" in *sm_80*sm_90*) ;; *) echo "missing sm_80/sm_90 code"; exit 1 ;; esac
  echo "CUDA C: compiled and linked; exports checked (nothing run on a GPU: none here)"
else
  echo "== nvcc not found: CUDA C compile check SKIPPED"
fi

echo "== CPU-only build (NASHMP_ENABLE_CUDA=OFF): stubs"
cmake -S "$ROOT" -B "$TMP/cpu" -DNASHMP_ENABLE_CUDA=OFF -DCMAKE_BUILD_TYPE=Release \
      -DNASHMP_BUILD_TESTS=ON -DNASHMP_BUILD_STATIC=OFF > "$TMP/cpu.log" 2>&1 \
  || { cat "$TMP/cpu.log"; exit 1; }
cmake --build "$TMP/cpu" -j "$JOBS" --target test_cuda_stubs >> "$TMP/cpu.log" 2>&1 \
  || { cat "$TMP/cpu.log"; exit 1; }
(cd "$TMP/cpu" && ctest --output-on-failure -R '^cuda_stubs$')

if [ "$C_ONLY" -eq 0 ]; then
  if "$PY" -c "import numba_cuda" 2>/dev/null; then
    echo "== numba-cuda kernels under the CUDA simulator"
    # run from tests/cuda_sim so that the installed nashmp is imported, not the source tree
    (cd "$ROOT/tests/cuda_sim" && NUMBA_ENABLE_CUDASIM=1 "$PY" -m pytest -q -p no:cacheprovider \
       -o addopts= sim_cuda.py)
  else
    echo "== numba-cuda not installed: simulator tests SKIPPED (pip install .[cuda])"
  fi
fi
