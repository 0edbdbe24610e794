#!/usr/bin/env bash
# Build netmirror._core with ASan + UBSan into a private directory and run the test suite against it.
#   scripts/sanitize.sh                 # the whole suite (slow: ~3-5x the normal run)
#   scripts/sanitize.sh tests/test_lasso.py -x -q    # any pytest arguments
# Python itself is not instrumented, so the ASan runtime is preloaded; leak checking is off (CPython's
# allocator keeps memory alive by design), every other report aborts the run with a stack trace.
set -euo pipefail
cd "$(dirname "$0")/.."
site=build/sanitize-site
rm -rf "$site"
python -m pip install --no-deps --no-build-isolation -q --target "$site" \
    --config-settings=cmake.define.NETMIRROR_SANITIZE=ON \
    --config-settings=build-dir=build/sanitize .
# The C++ unit tests first (no preload needed: the test binary is instrumented itself), when doctest is installed.
if [ -f /usr/lib/cmake/doctest/doctestConfig.cmake ] || [ -f /usr/local/lib/cmake/doctest/doctestConfig.cmake ]; then
    cmake -S . -B build/sanitize-cpp -DNETMIRROR_PYTHON=OFF -DNETMIRROR_CUDA=OFF -DNETMIRROR_TESTS=ON \
        -DNETMIRROR_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build/sanitize-cpp -j 2 >/dev/null
    ASAN_OPTIONS=abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir build/sanitize-cpp --output-on-failure
fi
libasan=$(${CXX:-g++} -print-file-name=libasan.so)
libubsan=$(${CXX:-g++} -print-file-name=libubsan.so)
export LD_PRELOAD="$libasan:$libubsan"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:strict_init_order=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export NETMIRROR_SANITIZED=1   # tests that measure resident memory skip themselves (ASan shadow memory)
export PYTHONPATH="$PWD/$site${PYTHONPATH:+:$PYTHONPATH}"
python -c "import netmirror, sys; assert netmirror.__file__.startswith('$PWD/$site'), netmirror.__file__"
if [ $# -eq 0 ]; then set -- tests -q -x; fi
exec python -m pytest -p no:cacheprovider "$@"
