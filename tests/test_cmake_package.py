"""The installed package carries a usable C library: a CMake project outside the source tree finds
it with ``find_package(nashmp)`` through ``nashmp.get_cmake_dir()``, builds the downstream example
(csrc/tests/downstream: solves rock-paper-scissors and a random game, checks the exploitability and
that the runtime version equals the header's) and runs it."""
import os
import re
import shutil
import subprocess
import sys

import pytest

import nashmp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOWNSTREAM = os.path.join(ROOT, "csrc", "tests", "downstream")


def _c_compiler():
    for cc in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cc and shutil.which(cc):
            return shutil.which(cc)
    return None


def _run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)
    assert p.returncode == 0, (f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n"
                               f"{p.stdout}\n{p.stderr}")
    return p.stdout


def test_package_folders_exist():
    assert os.path.isfile(os.path.join(nashmp.get_include(), "nashmp", "nashmp.h"))
    assert os.path.isfile(os.path.join(nashmp.get_cmake_dir(), "nashmpConfig.cmake"))
    assert os.path.isfile(os.path.join(nashmp.get_cmake_dir(), "nashmpConfigVersion.cmake"))


def test_module_prints_the_folders(tmp_path):
    # run from an empty folder: the installed package is the one imported, not a source checkout
    out = _run([sys.executable, "-m", "nashmp", "--cmake-dir"], cwd=tmp_path).strip()
    assert os.path.samefile(out, nashmp.get_cmake_dir())
    out = _run([sys.executable, "-m", "nashmp", "--include-dir"], cwd=tmp_path).strip()
    assert os.path.samefile(out, nashmp.get_include())


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not on PATH")
@pytest.mark.skipif(_c_compiler() is None, reason="no C compiler (cc, gcc, clang) on PATH")
def test_find_package_builds_and_runs_downstream_example(tmp_path):
    cmake_dir = nashmp.get_cmake_dir()
    if not os.path.isfile(os.path.join(cmake_dir, "nashmpConfig.cmake")):
        pytest.skip(f"no nashmpConfig.cmake in {cmake_dir} (nashmp imported from a source tree, "
                    "not from an installed wheel)")
    header = open(os.path.join(nashmp.get_include(), "nashmp", "nashmp.h")).read()
    version = re.search(r'#define NASHMP_VERSION_STRING "([^"]+)"', header).group(1)
    major_minor = ".".join(version.split(".")[:2])
    build = tmp_path / "build"
    env = dict(os.environ, CC=_c_compiler())
    _run(["cmake", "-S", DOWNSTREAM, "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
          f"-Dnashmp_DIR={cmake_dir}", f"-DNASHMP_DOWNSTREAM_VERSION={major_minor}"], env=env)
    _run(["cmake", "--build", str(build)], env=env)
    exe = build / "nashmp_downstream"
    out = _run([str(exe)], env=dict(os.environ, OMP_NUM_THREADS="2"))
    assert "all checks passed" in out
    assert f"nashmp {version} " in out  # the library that ran is the installed header's
