"""Networks and objectives own their C handles: copy, deepcopy and pickle rebuild
them from the description and the data (never share a handle), give bit-identical
losses, and cross process boundaries (multiprocessing spawn and fork)."""
import copy
import multiprocessing as mp
import pickle

import numpy as np
import pytest

import mlpflow

LAYERS = [(4, "softplus", True), (1, "identity", False)]


def teacher():
    return mlpflow.TeacherNet([(3, "tanh", True), (1, "identity", False)], din=2, seed=5)


def make_objects():
    """One of every object type, with its non-default settings exercised."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 2))
    t = teacher()
    net = mlpflow.Net([(3, ["tanh", "softplus", ("poly", [0.0, 1.0, 0.5])], True),
                       (2, "identity", False)], X, np.column_stack([t(X), -t(X)]),
                      weights=rng.uniform(0.5, 2, 30), maxnorm=9.0, merge=[(0, 0, 1, 0.1)])
    ce = mlpflow.Net([(3, "tanh", True), (3, "softmax", True)], X, rng.integers(0, 3, 30),
                     loss="crossentropy")
    neti = mlpflow.NetI(mlpflow.TeacherNet([(2, "sigmoid2", False), (1, "identity", False)],
                                           din=3, seed=1),
                        [(3, "sigmoid2", False), (1, "identity", False)])
    gh = mlpflow.gauss_hermite_net(t, LAYERS, order=8)
    plain = mlpflow.Net(LAYERS, X, t(X))
    x = mlpflow.random_params(plain, seed=2)
    sub = mlpflow.LinearSubspace(x, np.ones(plain.nparams), rng.standard_normal(plain.nparams))
    return {"Net": net, "crossentropy": ce, "TeacherNet": t, "NetI": neti, "gauss_hermite": gh,
            "SubspaceNet": sub.objective(plain, 0.3, -0.2)}


def same_function(a, b, seed=7):
    """a and b compute bit-identical losses (or outputs for a TeacherNet)."""
    if isinstance(a, mlpflow.TeacherNet):
        X = np.random.default_rng(seed).standard_normal((9, a.din))
        return np.array_equal(a(X), b(X)) and np.array_equal(a.params, b.params)
    x = np.random.default_rng(seed).standard_normal(a.nparams) * 0.5
    return (mlpflow.loss(a, x) == mlpflow.loss(b, x) and
            mlpflow.loss(a, x, regularized=True) == mlpflow.loss(b, x, regularized=True) and
            np.array_equal(mlpflow.gradient(a, x), mlpflow.gradient(b, x)))


COPIES = {"copy": copy.copy, "deepcopy": copy.deepcopy,
          "pickle": lambda o: pickle.loads(pickle.dumps(o, protocol=pickle.HIGHEST_PROTOCOL))}


@pytest.mark.parametrize("how", sorted(COPIES))
def test_copies_are_independent_and_bit_identical(how):
    objs = make_objects()
    for name in list(objs):
        obj = objs.pop(name)
        dup = COPIES[how](obj)
        assert type(dup) is type(obj), name
        for handle in ("_net", "_obj", "_reg"):
            if getattr(obj, handle) is not None:
                assert getattr(dup, handle) not in (None, getattr(obj, handle)), (name, handle)
        assert dup.describe() == obj.describe(), name
        assert same_function(obj, dup), name
        del obj                     # the copy outlives the original: no shared handle
        assert same_function(dup, copy.deepcopy(dup)), name


def test_gauss_hermite_copy_keeps_its_teacher_and_settings():
    objs = make_objects()
    gh = pickle.loads(pickle.dumps(objs["gauss_hermite"]))
    assert np.array_equal(gh.teacher.params, objs["gauss_hermite"].teacher.params)
    net = copy.deepcopy(objs["Net"])
    assert net.maxnorm == 9.0 and net.merge == [(0, 0, 1, 0.1)]
    assert np.array_equal(net.weights, objs["Net"].weights)
    assert copy.copy(objs["crossentropy"]).loss == "crossentropy"


def test_linear_subspace_pickles():
    objs = make_objects()
    sub = objs["SubspaceNet"]
    plane = mlpflow.LinearSubspace(np.zeros(5), np.ones(5))
    again = pickle.loads(pickle.dumps(plane))
    assert np.array_equal(again.v1, plane.v1) and again.v2 is None
    dup = pickle.loads(pickle.dumps(sub))
    z = np.linspace(-1, 1, sub.nparams)
    assert np.array_equal(dup.point(z), sub.point(z))


def _loss_in_child(args):
    net, x = args
    return mlpflow.loss(net, x)


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_objects_cross_process_boundaries(method):
    if method not in mp.get_all_start_methods():
        pytest.skip("no %s start method here" % method)
    objs = make_objects()
    work = [(objs[k], np.full(objs[k].nparams, 0.1)) for k in ("Net", "NetI", "gauss_hermite")]
    with mp.get_context(method).Pool(2) as pool:
        got = pool.map(_loss_in_child, work, chunksize=1)
    assert got == [mlpflow.loss(n, x) for n, x in work]
