#!/usr/bin/env python
"""Run nashmp's benchmark plans, or compare two results.

    python bench/run.py run [--mode quick|default|full] [--json FILE] [--plot FILE] [--threads N]
    python bench/run.py compare OLD.json NEW.json [--threshold 0.15] [--metric ratio|time]

``run`` starts a child process with the benchmark environment (``OMP_WAIT_POLICY=PASSIVE``, no
``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE``, N threads for every library). ``--mode full`` runs
every kernel at every size and dtype at 1 thread, then the multi-thread section (``threads``
plan) with all cores in a second child, and merges both into one JSON. ``compare`` exits 1 when
a row is slower than OLD by more than the threshold. Run it from outside the source tree (e.g.
``cd /tmp``) so the installed nashmp is the one measured.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile


def main(argv=None):
    from nashmp import _bench
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--mode", default="default", choices=("quick", "default", "full", "threads"))
    r.add_argument("--threads", type=int, default=None,
                   help="threads per competitor (default 1; the 'threads' plan: all cores)")
    r.add_argument("--json")
    r.add_argument("--plot")
    c = sub.add_parser("compare")
    c.add_argument("old")
    c.add_argument("new")
    c.add_argument("--threshold", type=float, default=0.15)
    c.add_argument("--metric", choices=("ratio", "time"), default="ratio")
    a = p.parse_args(argv)
    if a.cmd == "compare":
        return 1 if _bench.compare(a.old, a.new, a.threshold, a.metric) else 0
    ncpu = os.cpu_count() or 1
    if a.mode != "full":
        th = a.threads or (ncpu if a.mode == "threads" else 1)
        return _bench.run_clean(a.mode, th, a.json, a.plot)
    with tempfile.TemporaryDirectory() as tmp:
        j1, j2 = os.path.join(tmp, "t1.json"), os.path.join(tmp, "tn.json")
        rc = _bench.run_clean("full", a.threads or 1, j1, None)
        rc2 = 0
        if ncpu > 1:
            print(f"\n==== multi-thread section: {ncpu} threads per competitor ====\n",
                  flush=True)
            rc2 = _bench.run_clean("threads", ncpu, j2, None)
        with open(j1) as f:
            out = json.load(f)
        if ncpu > 1 and os.path.exists(j2):
            with open(j2) as f:
                extra = json.load(f)
            out["rows"] += extra["rows"]
            out["errors"] += extra["errors"]
            out["threads_run"] = {k: extra.get(k) for k in
                                  ("threads", "floors", "threads_info", "load", "elapsed_s")}
        if a.json:
            with open(a.json, "w") as f:
                json.dump(out, f, indent=1)
            print(f"merged JSON written to {a.json}")
        if a.plot:
            _bench.plot(out, a.plot)
    return rc or rc2


if __name__ == "__main__":
    sys.exit(main())
