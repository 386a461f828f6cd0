"""The cffi cdef and the public header cannot drift; libnashmp exports only nashmp_ symbols."""
import glob
import os
import re
import shutil
import subprocess

import pytest

import nashmp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _norm(s):
    return re.sub(r"\s+", " ", s).replace("( ", "(").replace(" )", ")").strip()


def _header_prototypes():
    text = "".join(open(os.path.join(ROOT, "csrc", "include", "nashmp", h)).read()
                   for h in ("nashmp.h", "nashmp_cuda.h"))
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return {re.search(r"(nashmp_\w+)\s*\(", m).group(1): _norm(m)
            for m in re.findall(r"^NASHMP_API\s+([^;]+);", text, flags=re.M)}


def _cdef_prototypes():
    text = open(os.path.join(ROOT, "src", "nashmp_cdef.h")).read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return {re.search(r"(nashmp_\w+)\s*\(", m).group(1): _norm(m)
            for m in re.findall(r"^[a-z][^;{}]*nashmp_\w+\s*\([^;]*\)\s*;", text, flags=re.M)}


def test_every_exported_prototype_is_declared_identically():
    h, c = _header_prototypes(), _cdef_prototypes()
    assert h, "no prototypes parsed from the header"
    missing = sorted(set(h) - set(c))
    assert not missing, f"declared in nashmp.h but not in the cffi cdef: {missing}"
    extra = sorted(set(c) - set(h))
    assert not extra, f"in the cdef but not in nashmp.h: {extra}"
    for name in h:
        assert h[name] == c[name].rstrip(";"), name


def test_runtime_version_matches_header():
    from nashmp._backend import c_lib
    ffi, lib = c_lib()
    text = open(os.path.join(ROOT, "csrc", "include", "nashmp", "nashmp.h")).read()
    ver = re.search(r'#define NASHMP_VERSION_STRING "([^"]+)"', text).group(1)
    assert ffi.string(lib.nashmp_version_string()).decode() == ver == nashmp.__version__
    major, minor, patch = map(int, ver.split("."))
    assert lib.nashmp_version_number() == 10000 * major + 100 * minor + patch
    assert ffi.string(lib.nashmp_status_string(-5)).decode() == "NASHMP_ERR_NONFINITE"
    assert ffi.string(lib.nashmp_status_string(12345)).decode() == "unknown status"


@pytest.mark.skipif(shutil.which("nm") is None, reason="nm not installed")
def test_shared_library_exports_only_nashmp_symbols():
    libs = glob.glob(os.path.join(nashmp.get_library_dir(), "libnashmp.so*"))
    assert libs, "libnashmp not found next to the package"
    out = subprocess.run(["nm", "-D", "--defined-only", libs[0]], capture_output=True,
                         text=True, check=True).stdout
    names = [ln.split()[-1] for ln in out.splitlines() if ln.split()[-2:-1] in (["T"], ["D"], ["B"],
                                                                                ["i"])]
    bad = [n for n in names if not n.startswith("nashmp_")]
    assert names and not bad, bad
