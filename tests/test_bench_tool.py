"""The bench tooling's own logic (no timings): regression comparison and result checking."""
import copy
import json

import numpy as np
import pytest

from nashmp import _bench, cli


def _run(c_time, numba_time=2.0):
    return {"rows": [
        {"id": "kernel:logsumexp:1000x1000:f64", "section": "kernel", "baseline_best": "numpy",
         "results": {"numpy": {"median_s": 1.0}, "nashmp-c": {"median_s": c_time},
                     "nashmp-numba": {"median_s": numba_time}}},
        {"id": "convergence:nash_mp:c", "section": "convergence", "status": "ok",
         "reached": True, "wall_s": 0.01, "queries": 80},
    ]}


@pytest.mark.parametrize("new_c, regressions", [(0.5, 0), (0.55, 0), (0.7, 1), (0.25, 0)])
def test_compare_flags_slowdowns_beyond_the_threshold(new_c, regressions):
    # speedup over numpy 2.0 -> 1/new_c; 0.55 is 10 % slower (under 15 %), 0.7 is 40 % slower
    got = _bench.compare(_run(0.5), _run(new_c), threshold=0.15, log=lambda *a: None)
    assert got == regressions


def test_compare_uses_the_ratio_so_a_uniformly_slower_machine_is_not_a_regression():
    old, new = _run(0.5), _run(0.5)
    for r in new["rows"][0]["results"].values():      # every competitor 2x slower
        r["median_s"] *= 2
    assert _bench.compare(copy.deepcopy(old), copy.deepcopy(new), log=lambda *a: None) == 0
    assert _bench.compare(old, new, metric="time", log=lambda *a: None) >= 1


def test_compare_convergence_rows_count_queries():
    old, new = _run(0.5), _run(0.5)
    new["rows"][1]["queries"] = 200
    assert _bench.compare(old, new, log=lambda *a: None) == 1


def test_cli_compare_exit_status(tmp_path, capsys):
    a, b, c = (tmp_path / n for n in ("a.json", "b.json", "c.json"))
    a.write_text(json.dumps(_run(0.5)))
    b.write_text(json.dumps(_run(0.5)))
    c.write_text(json.dumps(_run(1.0)))
    assert cli.main(["bench", "--compare", str(a), str(b)]) == 0
    assert cli.main(["bench", "--compare", str(a), str(c)]) == 1
    assert "REGRESSION" in capsys.readouterr().out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_check_result_rejects_a_wrong_result(dtype):
    ref = np.linspace(-3.0, 5.0, 50)
    ok, worst = _bench.check_result("logsumexp", ref.astype(dtype), ref, dtype)
    assert ok and worst <= 1.0
    bad = ref.copy()
    bad[7] += 1e-3 * 5.0                       # far above both tolerances
    assert not _bench.check_result("logsumexp", bad.astype(dtype), ref, dtype)[0]
    nan = ref.copy()
    nan[0] = np.nan
    assert not _bench.check_result("logsumexp", nan, ref, dtype)[0]
    assert not _bench.check_result("logsumexp", ref[:10], ref, dtype)[0]


def test_interleaved_rounds_order_and_warmup():
    """Rounds run every competitor in turn (A B A B ...); warm-up rounds run them too but are
    not samples."""
    calls = []
    fns = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    out = _bench.interleaved(fns, rounds=3, reps={"a": 1, "b": 2}, warmup=1)
    assert calls == ["a", "b", "b"] * 4
    assert len(out["a"]["samples_s"]) == len(out["b"]["samples_s"]) == 3
    assert out["b"]["reps"] == 2
