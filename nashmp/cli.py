"""The ``nashmp`` command: ``info`` (and, as they land, ``solve``, ``bench``, ``demo``)."""
from __future__ import annotations

import argparse
import os
import platform
import sys


def _cpu_flags() -> str:
    want = ("sse4_2", "avx", "avx2", "fma", "avx512f", "neon", "asimd")
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    have = set(line.split(":", 1)[1].split())
                    return " ".join(w for w in want if w in have) or "none of interest"
    except OSError:
        pass
    return "unknown"


def cmd_info(args) -> int:
    import importlib.metadata as md

    import numpy as np

    import nashmp
    from nashmp._backend import available_backends, c_lib

    try:
        pkg = md.version("nashmp")
    except md.PackageNotFoundError:
        pkg = "not installed (source tree)"
    print(f"nashmp package      {pkg}")
    ok = True
    try:
        ffi, lib = c_lib()
        cver = ffi.string(lib.nashmp_version_string()).decode()
        match = "match" if cver == pkg else "MISMATCH"
        ok = cver == pkg
        print(f"libnashmp           {cver} ({match})")
        print(f"libnashmp build     {ffi.string(lib.nashmp_build_info()).decode()}")
        print(f"C threads           {lib.nashmp_get_num_threads()}")
    except ImportError as exc:
        print(f"libnashmp           unavailable: {exc}")
    print(f"backends            {', '.join(available_backends())} (auto = "
          f"{nashmp._backend.resolve('auto')})")
    try:
        import numba
        print(f"numba               {numba.__version__}, {numba.config.NUMBA_NUM_THREADS} threads "
              f"({numba.config.THREADING_LAYER} layer)")
    except ImportError:
        print("numba               not installed")
    print(f"numpy               {np.__version__}")
    print(f"python              {platform.python_version()} ({sys.executable})")
    print(f"cpu                 {os.cpu_count()} cores; flags: {_cpu_flags()}")
    for var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "NASHMP_BACKEND"):
        if var in os.environ:
            print(f"{var:<19} {os.environ[var]}")
    print(f"include dir         {nashmp.get_include()}")
    print(f"cmake dir           {nashmp.get_cmake_dir()}")
    return 0 if ok else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="nashmp", description="Nash equilibria of preference games.")
    p.add_argument("--include-dir", action="store_true", help="print the C header folder and exit")
    p.add_argument("--cmake-dir", action="store_true", help="print the CMake package folder and exit")
    sub = p.add_subparsers(dest="cmd")
    sub.add_parser("info", help="versions, backends, threads and CPU features")
    args = p.parse_args(argv)
    if args.include_dir or args.cmake_dir:
        import nashmp
        print(nashmp.get_include() if args.include_dir else nashmp.get_cmake_dir())
        return 0
    if args.cmd == "info":
        return cmd_info(args)
    p.print_help()
    return 2
