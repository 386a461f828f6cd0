#!/usr/bin/env bash
# Builds and runs the downstream example (main.c) against an installed libnashmp, every way a
# user would consume it:
#   1. CMake, find_package(nashmp) through CMAKE_PREFIX_PATH=<prefix>   (shared library)
#   2. CMake, the same prefix, nashmp::nashmp_static                     (static library)
#   3. pkg-config: cc main.c $(pkg-config --cflags --libs nashmp)       (PKG_CONFIG_PATH=<prefix>)
#   4. CMake, -Dnashmp_DIR=$(python -m nashmp --cmake-dir)               (the pip-installed wheel)
#
# usage: build_all.sh PREFIX [PYTHON]
#   PREFIX  a `cmake --install` prefix of libnashmp (with the static library)
#   PYTHON  an interpreter whose environment has the nashmp wheel installed (step 4 is skipped
#           when it is not given)
# Exits nonzero at the first failure. Needs cmake, a C compiler (cc) and pkg-config.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
prefix=$(cd "${1:?usage: build_all.sh PREFIX [PYTHON]}" && pwd)
python=${2:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# the version in the header: find_package() asks for MAJOR.MINOR (nashmpConfigVersion.cmake)
version=$(sed -n 's/^#define NASHMP_VERSION_STRING "\([0-9]*\.[0-9]*\).*"/\1/p' \
          "$prefix/include/nashmp/nashmp.h")

cmake_build() { # name, extra cmake arguments...
    local name=$1
    shift
    echo "-- downstream ($name): configure, build, run"
    cmake -S "$here" -B "$work/$name" -DCMAKE_BUILD_TYPE=Release \
          -DNASHMP_DOWNSTREAM_VERSION="$version" "$@" >"$work/$name.log" 2>&1 ||
        { cat "$work/$name.log"; return 1; }
    grep -- '-- nashmp ' "$work/$name.log"
    cmake --build "$work/$name" >>"$work/$name.log" 2>&1 || { cat "$work/$name.log"; return 1; }
    "$work/$name/nashmp_downstream"
}

# 1. shared library from the install prefix
cmake_build prefix-shared -DCMAKE_PREFIX_PATH="$prefix"

# 2. static library from the install prefix: the binary must not need libnashmp.so
cmake_build prefix-static -DCMAKE_PREFIX_PATH="$prefix" -DNASHMP_DOWNSTREAM_STATIC=ON
if command -v readelf >/dev/null && readelf -d "$work/prefix-static/nashmp_downstream" |
        grep -q 'NEEDED.*libnashmp'; then
    echo "FAIL: the static build depends on libnashmp.so" >&2
    exit 1
fi

# 3. pkg-config, no CMake (rpath from the .pc file's libdir)
echo "-- downstream (pkg-config): compile, run"
pc=$(find "$prefix" -name nashmp.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || { echo "FAIL: no nashmp.pc under $prefix" >&2; exit 1; }
export PKG_CONFIG_PATH="$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
libdir=$(pkg-config --variable=libdir nashmp)
echo "pkg-config: nashmp $(pkg-config --modversion nashmp): $(pkg-config --cflags --libs nashmp)"
# shellcheck disable=SC2046  # word splitting of the pkg-config flags is intended
${CC:-cc} -std=c99 -O2 -o "$work/pkgconfig_downstream" "$here/main.c" \
    $(pkg-config --cflags --libs nashmp) -lm -Wl,-rpath,"$libdir"
"$work/pkgconfig_downstream"

# 4. the pip-installed wheel (run Python outside any source tree, so that the installed package
#    is the one imported)
if [ -n "$python" ]; then
    cmake_dir=$(cd "$work" && "$python" -m nashmp --cmake-dir)
    echo "wheel CMake package: $cmake_dir"
    cmake_build wheel -Dnashmp_DIR="$cmake_dir"
fi
echo "-- downstream: all builds ran and passed"
