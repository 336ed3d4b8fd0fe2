"""The minimiser phase ends on a channel to infinity: a 2-unit tanh student of a
3-unit teacher flows (maxT = 1e4) into a channel, and Newton TR, which follows
it with output weights growing by hundreds while the loss stays at 5.03e-4,
stops with optim_stopped_by "channel" (the watch of src/dynamics/watch.c)
instead of running to maxiterations; the run is not converged."""
import numpy as np

import mlpflow


def test_newtontr_stops_on_a_channel():
    X = np.random.default_rng(1).standard_normal((200, 2))
    teacher = mlpflow.TeacherNet(layers=[(3, "tanh", True), (1, "identity", False)], din=2, seed=3)
    net = mlpflow.Net(layers=[(2, "tanh", True), (1, "identity", False)], input=X,
                      target=teacher(X))
    res = mlpflow.train(net, mlpflow.random_params(net, seed=2), maxT=1e4)
    assert res["optim_solver"] == "newtontr" and res["optim_stopped_by"] == "channel"
    assert not res["converged"] and res["optim_iterations"] < 10000   # 6 492 measured
    a = mlpflow.params_dict(net, res["x"])["w2"][0]
    a0 = mlpflow.params_dict(net, res["ode_x"])["w2"][0]
    assert np.abs(a).max() > 10 * np.abs(a0).max()       # drifted towards infinity
    assert a.max() > 100 and a.min() < -100                # a pair of opposite signs
    assert res["loss"] <= res["ode_loss"]
