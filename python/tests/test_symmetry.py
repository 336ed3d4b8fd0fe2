"""Symmetries and constructions: affine / tied subspaces, canonical forms, distances
modulo symmetry, teacher matching, expand-and-cluster, symmetry-induced critical
points (counts and indices), copy-average configurations."""
import itertools

import numpy as np
import pytest

import mlpflow as mf


def tanh_problem(k_student=2, k_teacher=3, n=60, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    teacher = mf.TeacherNet([(k_teacher, "tanh", True), (1, "identity", True)], din=2, seed=4)
    net = mf.Net([(k_student, "tanh", True), (1, "identity", True)], X, teacher(X))
    return net, teacher, X


def transformed(net, x, perm, signs=None, scales=None):
    """x with hidden units moved to perm[i], flipped by signs, rescaled by scales."""
    d = mf.params_dict(net, x)
    W1, W2 = d["w1"], d["w2"]
    k = W1.shape[0]
    s = np.ones(k) if signs is None else np.asarray(signs, float)
    c = np.ones(k) if scales is None else np.asarray(scales, float)
    V1, V2 = W1.copy(), W2.copy()
    for i in range(k):
        V1[perm[i]] = s[i] * c[i] * W1[i]
        V2[:, perm[i]] = s[i] / c[i] * W2[:, i]
    return mf.params({"w1": V1, "w2": V2})


@pytest.fixture(scope="module")
def minimum():
    """A strict minimum of a 2-unit tanh net (a 3-unit teacher: loss > 0)."""
    net, teacher, X = tanh_problem()
    r = mf.train(net, mf.random_params(net, seed=1), maxT=1e4, optim_solver="newtontr",
                 min_gnorm=1e-14)
    ev, _ = mf.hessian_spectrum(net, r["x"], vectors=False)
    assert r["gnorm"] <= 1e-13 and ev[0] > 0 and r["loss"] > 1e-9
    return net, r["x"], teacher, X


def test_affine_subspace_derivatives_and_training(minimum):
    net, xmin, _, _ = minimum
    rng = np.random.default_rng(0)
    B = rng.standard_normal((net.nparams, 3))
    sub = mf.AffineSubspace(net, origin=xmin, basis=B)
    z = rng.standard_normal(3) * 0.1
    x = sub.point(z)
    assert np.allclose(x, xmin + B @ z, rtol=0, atol=1e-15)
    g, H = mf.gradient(net, x), mf.hessian(net, x)
    assert mf.loss(sub, z) == mf.loss(net, x)
    assert np.allclose(mf.gradient(sub, z), B.T @ g, rtol=1e-13, atol=1e-16)
    assert np.allclose(mf.hessian(sub, z), B.T @ H @ B, rtol=1e-12, atol=1e-15)
    assert np.allclose(sub.project(x), z, atol=1e-13)
    # xmin is a minimum of the subspace too: training from z returns there
    r = mf.train(sub, z, alg="none", optim_solver="newtontr", min_gnorm=1e-14)
    assert r["gnorm"] <= 1e-12 and np.allclose(sub.point(r["x"]), xmin, atol=1e-8)


def test_tied_groups_share_values(minimum):
    net, xmin, _, _ = minimum
    groups = np.arange(net.nparams)
    groups[3:6] = groups[0:3]          # unit 1's incoming weights = unit 0's
    groups[-1] = -5                    # output bias fixed at the origin's value
    origin = np.zeros(net.nparams)
    origin[-1] = 0.125
    sub = mf.AffineSubspace(net, origin=origin, groups=groups)
    assert sub.nparams == net.nparams - 3 - 1
    x = sub.point(np.arange(1.0, sub.nparams + 1))
    assert np.array_equal(x[0:3], x[3:6]) and x[-1] == 0.125
    assert np.allclose(sub.project(x), np.arange(1.0, sub.nparams + 1))


def test_canonicalize_and_distance_modulo_permutation_and_signs(minimum):
    net, xmin, _, _ = minimum
    rng = np.random.default_rng(7)
    big, xb = mf.split_neuron(net, xmin, 1, 0.3)          # 3 distinct-enough units
    for trial in range(5):
        perm = rng.permutation(3)
        signs = rng.choice([-1.0, 1.0], 3)
        y = transformed(big, xb, perm, signs)
        assert np.allclose(mf.canonicalize(big, y), mf.canonicalize(big, xb), rtol=0, atol=1e-15)
        assert mf.symmetry_distance(big, y, xb) <= 1e-14
    X = np.random.default_rng(1).standard_normal((5, 2))
    xc, perms = mf.canonicalize(big, y, return_perm=True)
    assert np.allclose(big(xc, X), big(y, X), atol=1e-14) and sorted(perms[0]) == [0, 1, 2]
    d = mf.symmetry_distance(big, y + 1e-3, xb)
    assert 0 < d <= 1e-3 * np.sqrt(big.nparams) * (1 + 1e-9)


def test_relu_rescaling_is_a_symmetry():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((30, 3))
    net = mf.Net([(4, "relu", True), (1, "identity", False)], X, X[:, :1])
    x = mf.random_params(net, seed=3)
    y = transformed(net, x, rng.permutation(4), scales=rng.uniform(0.2, 5, 4))
    assert np.allclose(net(x, X), net(y, X), atol=1e-12)
    assert mf.symmetry_distance(net, x, y) <= 1e-14
    w = mf.params_dict(net, mf.canonicalize(net, y))["w1"]
    assert np.allclose(np.linalg.norm(w, axis=1), 1.0, atol=1e-15)


def test_match_teacher_recovers_permuted_flipped_teacher():
    teacher = mf.TeacherNet([(4, "tanh", False), (1, "identity", False)], din=3, seed=5)
    student = mf.TeacherNet([(6, "tanh", False), (1, "identity", False)], din=3, seed=9)
    rng = np.random.default_rng(11)
    where = rng.permutation(6)[:4]            # teacher unit j -> student unit where[j]
    signs = rng.choice([-1.0, 1.0], 4)
    d, t = mf.params_dict(student, student.params), mf.params_dict(teacher, teacher.params)
    for j in range(4):
        d["w1"][where[j]] = signs[j] * t["w1"][j]
        d["w2"][0, where[j]] = signs[j] * t["w2"][0, j]
    m = mf.match_teacher(student, mf.params(d), teacher)
    assert [int(m["assign"][where[j]]) for j in range(4)] == list(range(4))
    assert sorted(m["unmatched"]) == sorted(set(range(6)) - set(where.tolist()))
    assert np.allclose(m["teacher_cosine"], 1.0, atol=1e-15) and m["teachers_missed"] == []
    assert np.nanmax(m["err_in"]) <= 1e-15 and np.nanmax(m["err_out"]) <= 1e-15


def test_match_teacher_after_training():
    """A student of the teacher's width trained on the teacher's data finds it."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((200, 2))
    teacher = mf.TeacherNet([(2, "tanh", False), (1, "identity", False)], din=2,
                            params={"w1": [[1.0, 0.5], [-0.7, 1.2]], "w2": [[1.0, -1.5]]})
    net = mf.Net([(2, "tanh", False), (1, "identity", False)], X, teacher(X))
    r = mf.train(net, mf.random_params(net, seed=2), maxT=1e4, optim_solver="newtontr")
    assert r["loss"] < 1e-20
    m = mf.match_teacher(net, r["x"], teacher)
    assert np.all(m["cosine"] > 1 - 1e-10) and np.nanmax(m["err_out"]) < 1e-8


def test_expand_and_cluster_merges_duplicates_and_drops_cancelling_pairs():
    teacher = mf.TeacherNet([(2, "tanh", True), (1, "identity", True)], din=2,
                            params={"w1": [[1.0, -0.5, 0.2], [0.3, 0.8, -0.1]],
                                    "w2": [[1.5, -0.7, 0.05]]})
    wide = mf.TeacherNet([(6, "tanh", True), (1, "identity", True)], din=2, seed=1)
    rng = np.random.default_rng(3)
    xs = []
    for s in range(4):
        # teacher unit 0 split 0.4 / 0.6, unit 1 flipped, a cancelling pair, a tiny unit
        d = {"w1": np.zeros((6, 3)), "w2": np.zeros((1, 7))}
        T = mf.params_dict(teacher, teacher.params)
        d["w1"][0] = d["w1"][1] = T["w1"][0]
        d["w2"][0, 0], d["w2"][0, 1] = 0.4 * 1.5, 0.6 * 1.5
        d["w1"][2], d["w2"][0, 2] = -T["w1"][1], 0.7
        d["w1"][3] = d["w1"][4] = rng.standard_normal(3)
        d["w2"][0, 3], d["w2"][0, 4] = 3.0, -3.0
        d["w1"][5], d["w2"][0, 5] = rng.standard_normal(3), 1e-7
        d["w2"][0, 6] = 0.05
        x = mf.params(d)
        xs.append(transformed(wide, x, rng.permutation(6)))
    r = mf.expand_and_cluster(wide, np.stack(xs))
    assert r["counts"] == [4, 4]
    X = rng.standard_normal((50, 2))
    assert np.allclose(mf.predict(r["net"], r["x"], X), teacher(X), atol=1e-14)
    m = mf.match_teacher(r["net"], r["x"], teacher)
    assert np.allclose(m["teacher_cosine"], 1, atol=1e-15)


def brute_force_count(r, m, zero_units):
    """Maps of m slots onto the r units (every unit used), optionally with zero units."""
    labels = range(-1, r) if zero_units else range(r)
    return sum(1 for a in itertools.product(labels, repeat=m)
               if set(v for v in a if v >= 0) == set(range(r)))


@pytest.mark.parametrize("r,m", [(1, 1), (1, 3), (2, 2), (2, 4), (3, 4), (3, 5), (2, 5)])
def test_counts_match_brute_force(r, m):
    assert mf.count_G(r, m) == brute_force_count(r, m, False)
    assert mf.count_T(r, m) == brute_force_count(r, m, True)


def test_symmetry_induced_counts_and_distinct_points(minimum):
    net, xmin, _, _ = minimum
    for m in (2, 3, 4):
        pts = mf.symmetry_induced(net, xmin, m, lam=0.3)
        assert len(pts) == mf.count_G(2, m)
        X = np.vstack([p["x"] for p in pts])
        assert len({tuple(np.round(x, 12)) for x in X}) == len(pts)
    pts = mf.symmetry_induced(net, xmin, 4, zero_units=True)
    assert len(pts) == mf.count_T(2, 4)
    assert sum("zero-output units" in p["description"] for p in pts) == mf.count_T(2, 4) - mf.count_G(2, 4)


@pytest.mark.parametrize("lam", [0.3, 1.5, -0.5])
def test_symmetry_induced_points_are_critical_with_the_theory_index(minimum, lam):
    """Splitting unit u of a strict minimum (lam, 1 - lam): the Hessian is congruent to
    blockdiag(H_r, 0, 2 lam (1 - lam) a_u B_u) with
    B_u = (1/N) sum_n e_n sigma''(w_u.x_n) x_n x_n^T (e the residual): the index is the
    number of negative eigenvalues of lam (1 - lam) a_u B_u, one eigenvalue is zero."""
    net, xmin, teacher, X = minimum
    d = mf.params_dict(net, xmin)
    Xt = np.hstack([X, np.ones((len(X), 1))])
    e = net(xmin, X)[:, 0] - teacher(X)[:, 0]
    for p in mf.symmetry_induced(net, xmin, 3, lam=lam):
        big = p["net"]
        assert np.abs(mf.gradient(big, p["x"])).max() <= 1e-12
        ev, _ = mf.hessian_spectrum(big, p["x"], vectors=False)
        tol = 1e-9 * np.abs(ev).max()
        a = p["assign"]
        u = [v for v in range(2) if (a == v).sum() == 2][0]
        t = np.tanh(Xt @ d["w1"][u])
        B = (Xt * (e * -2 * t * (1 - t ** 2))[:, None]).T @ Xt / len(X)
        theory = int((np.linalg.eigvalsh(lam * (1 - lam) * d["w2"][0, u] * B) < 0).sum())
        assert int((ev < -tol).sum()) == theory
        assert int((np.abs(ev) <= tol).sum()) == 1


def test_zero_units_are_critical_at_zero_loss():
    teacher = mf.TeacherNet([(2, "tanh", True), (1, "identity", True)], din=2, seed=8)
    X = np.random.default_rng(5).standard_normal((40, 2))
    net = mf.Net([(2, "tanh", True), (1, "identity", True)], X, teacher(X))
    for p in mf.symmetry_induced(net, teacher.params, 3, zero_units=True):
        assert mf.loss(p["net"], p["x"]) < 1e-28
        assert np.abs(mf.gradient(p["net"], p["x"])).max() <= 1e-14


def erf_teacher(k):
    return mf.TeacherNet([(k, "sigmoid2", False), (1, "identity", False)], din=k,
                         params={"w1": np.eye(k), "w2": np.ones((1, k))})


def test_copy_average_erf_is_critical_and_matches_the_trained_point():
    teacher = erf_teacher(4)
    losses = []
    for n in (1, 2, 3):
        ca = mf.copy_average(teacher, n)
        assert ca["gnorm"] <= 1e-12
        assert np.allclose(ca["scales"][:n - 1], 1) and np.allclose(ca["out_weights"][:n - 1], 1)
        losses.append(ca["loss"])
    assert losses[0] > losses[1] > losses[2] > 0
    # n = 2 from a Glorot start: gradient flow ends at the copy-average point (example 7)
    net = mf.NetI(teacher, [(2, "sigmoid2", False), (1, "identity", False)])
    r = mf.train(net, mf.random_params(net, seed=1), maxT=1e3, optim_solver="newtontr",
                 min_gnorm=1e-13)
    assert abs(r["loss"] - losses[1]) <= 1e-12
    # n = k with singletons: the teacher itself
    assert mf.copy_average(teacher, 4)["loss"] < 1e-28


def test_copy_average_other_partitions_and_relu():
    teacher = erf_teacher(5)
    ca = mf.copy_average(teacher, 2, partition=[[0, 1], [2, 3, 4]])
    assert ca["gnorm"] <= 1e-12 and ca["partition"] == [[0, 1], [2, 3, 4]]
    relu = mf.TeacherNet([(3, "relu", False), (1, "identity", False)], din=3,
                         params={"w1": np.eye(3), "w2": np.ones((1, 3))})
    ca = mf.copy_average(relu, 2)
    assert ca["gnorm"] <= 1e-10 and ca["loss"] > 0     # relu closed form: rounding floor ~1e-11
    # any other activation: Gauss-Hermite quadrature on the Gaussian data
    soft = mf.TeacherNet([(3, "softplus", False), (1, "identity", False)], din=3,
                         params={"w1": np.eye(3), "w2": np.ones((1, 3))})
    ca = mf.copy_average(soft, 2)
    assert ca["gnorm"] <= 1e-12 and ca["loss"] > 0
    with pytest.raises(ValueError, match="partition"):
        mf.copy_average(teacher, 2, partition=[[0, 1], [1, 2, 3, 4]])


def test_permutation_point_is_critical_with_zero_eigenvalues():
    """Brea et al. 2019: colliding two units and minimising in the tied subspace gives
    a critical point with >= n_out zero Hessian eigenvalues; some are first-order
    saddles, others (here: collisions that keep zero loss) minima."""
    net, teacher, X = tanh_problem(k_student=4, k_teacher=3)
    r = mf.train(net, mf.random_params(net, seed=1), maxT=1e4, optim_solver="newtontr",
                 min_gnorm=1e-14)
    assert r["loss"] < 1e-20
    kinds = []
    for i, j in ((0, 1), (0, 2)):
        p = mf.permutation_point(net, r["x"], i, j)
        d = mf.params_dict(net, p["x"])
        assert np.array_equal(d["w1"][i], d["w1"][j]) and d["w2"][0, i] == d["w2"][0, j]
        c = p["classification"]
        assert p["gnorm"] <= 1e-12 and c["kind"] in ("minimum", "saddle") and c["n_zero"] >= 1
        kinds.append((c["kind"], c["index"], p["loss"] > 1e-12))
        # the tied subspace is an AffineSubspace: classify works on it too
        cs = mf.classify(p["subspace"], p["result"]["x"])
        assert cs["kind"] in ("minimum", "saddle") and cs["gnorm"] <= 1e-12
    assert ("saddle", 1, True) in kinds and ("minimum", 0, False) in kinds
