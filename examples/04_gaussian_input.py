"""Example 4: standard Gaussian input. The same teacher-student gradient flow on
(a) a finite sample, (b) Gauss-Hermite quadrature data (din = 2) and (c) the exact
expectation (NetI). The two infinite-data trajectories are indistinguishable; the
finite sample deviates slightly. Writes ex4_distances.png and ex4_loss_curves.png."""
import os

import numpy as np

from _common import args

a = args(__doc__)
import mlpflow as mf            # noqa: E402
import mlpflow.plot as mp       # noqa: E402

N = 2000 if a.quick else 20000
T = 20.0 if a.quick else 200.0
teacher = mf.TeacherNet(layers=[(3, "sigmoid2", False), (1, "identity", False)], din=2, seed=2)
student = [(3, "sigmoid2", False), (1, "identity", False)]
exact = mf.NetI(teacher, student)
gh = mf.gauss_hermite_net(teacher, student, order=40)
X = np.random.default_rng(0).standard_normal((N, 2))
sample = mf.Net(layers=student, input=X, target=teacher(X))
x0 = mf.random_params(exact, seed=4)
opts = dict(maxT=T, reltol=1e-10, abstol=1e-10, optim_solver="none")
r_exact = mf.train(exact, x0, **opts)
r_gh = mf.train(gh, x0, **opts)
r_sample = mf.train(sample, x0, **opts)
print("Gauss-Hermite data: %d nodes; finite sample: N = %d" % (gh.nsamples, N))
for name, r in (("exact", r_exact), ("gauss-hermite", r_gh), ("sample", r_sample)):
    print("%-14s loss at t = %g: %.10e (exact loss of its end point %.10e)"
          % (name, r["ode_time_run"], r["ode_loss"], mf.loss(exact, r["ode_x"])))
d_gh = mf.trajectory_distance(r_gh, r_exact)
d_s = mf.trajectory_distance(r_sample, r_exact)
mp.trajectory_distances([d_gh, d_s], os.path.join(a.out, "ex4_distances.png"),
                        labels=["gauss-hermite", "finite sample"],
                        title="distance to the exact infinite-data flow")
mp.loss_curve([r_exact, r_gh, r_sample], os.path.join(a.out, "ex4_loss_curves.png"),
              labels=["exact", "gauss-hermite", "sample N=%d" % N])
print("finding: max distance to the exact flow: gauss-hermite %.2e, finite sample %.2e"
      % (d_gh["distances"].max(), d_s["distances"].max()))
