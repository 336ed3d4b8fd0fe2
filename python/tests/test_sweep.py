"""mf.sweep / load_sweep / load_run / outcomes / plot_outcomes: a sweep from a dict,
resume and --extend, failing runs, the database read while a sweep writes it."""
import sqlite3
import threading
import time

import numpy as np
import pytest

import mlpflow as mf

pd = pytest.importorskip("pandas")


def spec(seeds=(1, 10), widths=(3, 4, 5), teachers=(1, 2)):
    """A teacher-student problem with P = 16 (4 tanh units with biases) and 3 axes."""
    return {"base": {"teacher": {"layers": [[2, "tanh", True], [1, "identity", False]],
                                 "din": 2, "seed": 1},
                     "data": {"samples": 40, "seed": 1},
                     "layers": [[4, "tanh", True], [1, "identity", False]],
                     "train": {"maxT": 30, "maxiterations_optim": 40, "n_samples_trajectory": 8}},
            "axes": {"seed": {"range": list(seeds)}, "layers.0.0": list(widths),
                     "teacher.seed": list(teachers)}}


KINDS = ("minimum", "saddle", "channel", "not_critical")


def test_sweep_from_a_dict(tmp_path):
    db = tmp_path / "s.sqlite"
    df = mf.sweep(spec(), db, threads=2)
    assert len(df) == 60 and (df["status"] == "done").all()
    assert df.attrs["axes"] == ["seed", "layers.0.0", "teacher.seed"]
    assert sorted(df["layers.0.0"].unique()) == [3, 4, 5]
    assert df.groupby(["seed", "layers.0.0", "teacher.seed"]).size().eq(1).all()
    assert df["run_id"].str.fullmatch("[0-9a-f]{16}").all()
    # every run is classified by the analysis layer, as `mlpflow classify` would
    assert df["kind"].isin(KINDS).all()
    assert (df.loc[df["kind"] == "saddle", "saddle_index"] > 0).all()
    assert (df.loc[df["kind"] == "minimum", "saddle_index"] == 0).all()
    # one run's arrays: the shapes of a training result, the row's scalars
    r = mf.load_run(db, df["run_id"][5])
    assert r["nparams"] == 4 * r["layers.0.0"] and r["x"].shape == (r["nparams"],)
    assert r["trajectory_x"].shape == (len(r["trajectory_t"]), r["nparams"])
    assert r["loss_curve"].shape == r["trajectory_t"].shape
    assert np.array_equal(r["init"], r["trajectory_x"][0])
    assert r["loss_curve"][-1] >= r["loss"] * (1 - 1e-12)
    with pytest.raises(KeyError):
        mf.load_run(db, "0000000000000000")
    # again: nothing runs, the table is the same; extend adds only the new runs
    again = mf.sweep(spec(), db)
    assert again["finished_at"].tolist() == df["finished_at"].tolist()
    with pytest.raises(mf.InvalidArgumentError, match="--extend"):
        mf.sweep(spec(seeds=(1, 11)), db)
    more = mf.sweep(spec(seeds=(1, 11)), db, extend=True)
    assert len(more) == 66 and (more["status"] == "done").all()
    old = more.set_index("run_id").loc[df["run_id"], "finished_at"]
    assert old.tolist() == df["finished_at"].tolist()


def test_failing_runs_and_outcomes(tmp_path):
    s = spec(seeds=(1, 3), widths=(3,), teachers=(1,))
    s["axes"]["layers.1.1"] = ["identity", "idenity"]
    df = mf.sweep(s, tmp_path / "f.sqlite")
    bad = df[df["layers.1.1"] == "idenity"]
    assert (bad["status"] == "failed").all() and len(bad) == 3
    assert bad["error"].str.contains('unknown activation "idenity"').all()
    assert bad["loss"].isna().all()
    lab = mf.outcomes(df)
    assert (lab[bad.index] == "failed").all()
    good = df[df["status"] == "done"]
    assert set(lab[good.index]) <= set(KINDS)
    assert (lab[good.index] == good["kind"]).all()


def test_bad_sweep_names_the_axis(tmp_path):
    s = spec()
    s["axes"]["layers.0.9"] = [1]
    with pytest.raises(mf.InvalidArgumentError, match=r"axes\.layers\.0\.9"):
        mf.sweep(s, tmp_path / "x.sqlite")


def test_read_while_written(tmp_path):
    """Readers see whole runs only (a done row has its 6 arrays), and more of them over time."""
    db = tmp_path / "w.sqlite"
    s = spec(seeds=(1, 40))
    t = threading.Thread(target=mf.sweep, args=(s, db), kwargs={"threads": 1})
    t.start()
    seen = []
    try:
        while t.is_alive():
            if db.exists():
                try:
                    df = mf.load_sweep(db)
                except (sqlite3.OperationalError, pd.errors.DatabaseError):
                    continue             # the tables are being made
                con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
                incomplete = con.execute(
                    "select count(*) from runs r where status = 'done' and "
                    "(select count(*) from arrays a where a.run_id = r.run_id) != 6").fetchone()[0]
                con.close()
                assert incomplete == 0
                seen.append(int((df["status"] == "done").sum()))
            time.sleep(0.02)
    finally:
        t.join()
    assert seen == sorted(seen)
    assert any(0 < n < 240 for n in seen), seen
    assert (mf.load_sweep(db)["status"] == "done").sum() == 240


def test_plot_outcomes(tmp_path):
    df = mf.sweep(spec(seeds=(1, 4)), tmp_path / "p.sqlite")
    one = mf.plot_outcomes(df, "layers.0.0", tmp_path / "one.png")
    two = mf.plot_outcomes(df, "layers.0.0", tmp_path / "two.png", y="teacher.seed")
    assert one.get_ylabel() == "fraction minimum" and two.get_ylabel() == "teacher.seed"
    for path in (tmp_path / "one.png", tmp_path / "two.png"):
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
