import os
import subprocess
import sys

import numpy as np

import nashmp


def run(*args, cwd=None):
    # Run outside the source tree so the installed package (with its C extension) is imported.
    cwd = cwd or os.path.dirname(os.path.dirname(nashmp.__file__))
    return subprocess.run([sys.executable, "-m", "nashmp", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def test_info_reports_matching_versions():
    r = run("info")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "(match)" in r.stdout
    assert "backends" in r.stdout


def test_include_and_cmake_dirs():
    inc = run("--include-dir").stdout.strip()
    assert os.path.isfile(os.path.join(inc, "nashmp", "nashmp.h"))
    assert inc == nashmp.get_include()


def test_demo_small(tmp_path):
    plot = tmp_path / "demo.png"
    r = run("demo", "-B", "2", "-K", "20", "--beta", "0.2", "--no-progress", "--plot", str(plot))
    assert r.returncode == 0, r.stderr
    assert "nash_mp" in r.stdout and "omwu" in r.stdout


def test_solve_command(tmp_path):
    P = np.array([[.5, 1, 0], [0, .5, 1], [1, 0, .5]])
    np.save(tmp_path / "P.npy", P)
    r = run("solve", str(tmp_path / "P.npy"), "--beta", "0.1", "--out", str(tmp_path / "pi.npy"))
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(np.load(tmp_path / "pi.npy"), np.ones(3) / 3, atol=1e-6)
