"""Each example runs in --quick mode, writes its PNGs and prints its finding."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mlpflow

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"


def run_example(name, tmp_path):
    env = dict(os.environ)
    env["MLPFLOW_LIB"] = mlpflow.lib_path
    env["PYTHONPATH"] = str(Path(mlpflow.__file__).resolve().parent.parent)
    env.setdefault("MPLBACKEND", "Agg")
    p = subprocess.run([sys.executable, str(EXAMPLES / name), "--quick", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    finding = [l for l in p.stdout.splitlines() if l.startswith("finding:")]
    assert finding, p.stdout
    pngs = sorted(f.name for f in tmp_path.iterdir() if f.suffix == ".png")
    assert pngs, "no PNG written"
    for f in pngs:
        assert (tmp_path / f).stat().st_size > 1000
    return finding[-1], p.stdout


def num(pattern, text):
    return float(re.search(pattern, text).group(1))


def test_01_minimum(tmp_path):
    f, _ = run_example("01_minimum.py", tmp_path)
    assert "all Hessian eigenvalues positive: True" in f
    assert num(r"gnorm ([0-9.e+-]+)", f) < 1e-12


def test_02_teacher_student(tmp_path):
    f, _ = run_example("02_teacher_student.py", tmp_path)
    assert num(r"best loss ([0-9.e+-]+);", f) < 1e-25
    assert num(r"max weight difference ([0-9.e+-]+)", f) < 1e-8
    perm = re.search(r"permutation \[([0-9, ]+)\]", f).group(1)
    assert sorted(int(i) for i in perm.split(",")) == [0, 1, 2, 3]


def test_03_flow_vs_descent(tmp_path):
    f, _ = run_example("03_flow_vs_descent.py", tmp_path)
    assert "follows the flow most closely: True" in f
    assert num(r"gd ([0-9.e+-]+),", f) < 0.05
    assert num(r"adam ([0-9.e+-]+)", f) > num(r"gd ([0-9.e+-]+),", f)


def test_04_gaussian_input(tmp_path):
    f, _ = run_example("04_gaussian_input.py", tmp_path)
    gh = num(r"gauss-hermite ([0-9.e+-]+),", f)
    sample = num(r"finite sample ([0-9.e+-]+)", f)
    assert gh < 1e-7 and sample > 100 * gh


def test_05_timescales(tmp_path):
    f, _ = run_example("05_timescales.py", tmp_path)
    assert "both critical points: True" in f
    assert num(r"distance ([0-9.e+-]+),", f) > 1.0


def test_06_landscape(tmp_path):
    f, _ = run_example("06_landscape.py", tmp_path)
    assert "equals its loss: True" in f
    assert int(re.search(r"has (\d+) negative", f).group(1)) >= 1
    assert {"ex6_plane_loss.png", "ex6_plane_minloss.png"} <= {p.name for p in tmp_path.iterdir()}


def test_07_copy_average(tmp_path):
    f, _ = run_example("07_copy_average.py", tmp_path)
    assert "not critical (gnorm > 1e-12) 0;" in f
    assert num(r"built copy-average loss\| ([0-9.e+-]+);", f) < 1e-10
