"""The ``nashmp`` command: ``info``, ``demo``, ``solve``, ``bench``."""
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


def _print_cuda_info() -> None:
    """CUDA lines of ``nashmp info``: libnashmp's CUDA build and devices, numba-cuda and its
    devices. Never raises (a missing driver is reported, not fatal)."""
    import importlib.metadata as md
    import importlib.util

    from nashmp._backend import c_lib
    try:
        ffi, lib = c_lib()
        info = ffi.string(lib.nashmp_cuda_build_info()).decode()
        n = ffi.new("int *")
        st = lib.nashmp_cuda_device_count(n)
        dev = f"{n[0]} device(s)" if st == 0 else "no CUDA device or driver"
        print(f"libnashmp CUDA      {info}; {dev}")
    except (ImportError, AttributeError) as exc:
        print(f"libnashmp CUDA      unknown ({exc})")
    if importlib.util.find_spec("numba_cuda") is None:
        print("numba-cuda          not installed (pip install nashmp[cuda])")
        return
    try:
        ver = md.version("numba-cuda")
    except md.PackageNotFoundError:
        ver = "unknown version"
    try:
        from numba import config as nb_config
        from numba import cuda
        if nb_config.ENABLE_CUDASIM:
            devs = "CUDA simulator (NUMBA_ENABLE_CUDASIM=1)"
        elif cuda.is_available():
            devs = ", ".join(f"{d.id}: {d.name.decode() if isinstance(d.name, bytes) else d.name}"
                             for d in cuda.list_devices())
        else:
            devs = "no CUDA device or driver"
    except Exception as exc:  # noqa: BLE001
        devs = f"error: {exc}"
    print(f"numba-cuda          {ver}; {devs}")


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
    _print_cuda_info()
    print(f"numpy               {np.__version__}")
    print(f"python              {platform.python_version()} ({sys.executable})")
    print(f"cpu                 {os.cpu_count()} cores; flags: {_cpu_flags()}")
    for var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "NASHMP_BACKEND"):
        if var in os.environ:
            print(f"{var:<19} {os.environ[var]}")
    print(f"include dir         {nashmp.get_include()}")
    print(f"cmake dir           {nashmp.get_cmake_dir()}")
    return 0 if ok else 1


def cmd_solve(args) -> int:
    import numpy as np

    import nashmp
    P = np.load(args.matrix)
    r = nashmp.solve(P, args.beta, method=args.method, eta=args.eta, tol=args.tol,
                     max_iter=args.max_iter, backend=args.backend,
                     antisymmetrize=args.antisymmetrize)
    print(r)
    if args.out:
        np.save(args.out, r.policy)
        print(f"policy written to {args.out}")
    return 0 if r.success else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="nashmp", description="Nash equilibria of preference games.")
    p.add_argument("--include-dir", action="store_true", help="print the C header folder and exit")
    p.add_argument("--cmake-dir", action="store_true", help="print the CMake package folder and exit")
    sub = p.add_subparsers(dest="cmd")
    sub.add_parser("info", help="versions, backends, threads and CPU features")
    d = sub.add_parser("demo", help="Nash-MP against the baselines on random intransitive games")
    d.add_argument("-B", type=int, default=64, help="number of games (default 64)")
    d.add_argument("-K", type=int, default=500, help="actions per game (default 500)")
    d.add_argument("--beta", type=float, default=0.01)
    d.add_argument("--target", type=float, default=1e-6, help="exploitability target")
    d.add_argument("--plot", default="nashmp-demo.png", help="plot file ('' for none)")
    d.add_argument("--backend", default="auto")
    d.add_argument("--no-progress", action="store_true")
    s = sub.add_parser("solve", help="solve the game(s) in a .npy file of shape (..., K, K)")
    s.add_argument("matrix", help=".npy file holding P")
    s.add_argument("--beta", type=float, required=True)
    s.add_argument("--method", default="nash_mp")
    s.add_argument("--eta", type=float, default=None)
    s.add_argument("--tol", type=float, default=1e-8)
    s.add_argument("--max-iter", type=int, default=10_000)
    s.add_argument("--backend", default="auto")
    s.add_argument("--antisymmetrize", action="store_true")
    s.add_argument("--out", help="write the equilibrium policy to this .npy file")
    b = sub.add_parser("bench", help="kernels and solvers against NumPy/SciPy/PyTorch/JAX and the "
                                     "machine's limits (see bench/README.md)")
    b.add_argument("--quick", action="store_true", help="a smaller subset (< 20 s)")
    b.add_argument("--json", metavar="FILE", help="write the results as JSON")
    b.add_argument("--plot", metavar="FILE", help="write convergence and scaling plots (PNG)")
    b.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"),
                   help="compare two JSON results instead of running; exit 1 on a slowdown")
    b.add_argument("--threshold", type=float, default=0.15,
                   help="allowed slowdown for --compare (default 0.15)")
    args = p.parse_args(argv)
    if args.include_dir or args.cmake_dir:
        import nashmp
        print(nashmp.get_include() if args.include_dir else nashmp.get_cmake_dir())
        return 0
    if args.cmd == "info":
        return cmd_info(args)
    if args.cmd == "demo":
        from ._demo import run
        run(B=args.B, K=args.K, beta=args.beta, target=args.target, plot=args.plot,
            progress=not args.no_progress, backend=args.backend)
        return 0
    if args.cmd == "solve":
        return cmd_solve(args)
    if args.cmd == "bench":
        from . import _bench
        if args.compare:
            return 1 if _bench.compare(*args.compare, threshold=args.threshold) else 0
        return _bench.main(args.quick, args.json, args.plot)
    p.print_help()
    return 2
