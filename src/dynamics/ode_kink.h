/* ode_kink.h - kinks of ReLU-type units on a gradient flow (ode_kink.c), for
   ode.c: where a unit's pre-activations sit at a kink of its activation (a
   point where f' jumps, the activation table's `kinks`), the vector field
   -grad L is discontinuous there. */
#ifndef MLPF_ODE_KINK_H
#define MLPF_ODE_KINK_H

#include "dynamics/dynamics.h"

typedef struct dyn_kinks dyn_kinks;

/* The watch of pb's network, or NULL in *out when there is nothing to
   watch: no network (a custom or subspace objective) or no activation with
   a kink. Finite data: every (unit, sample) pair of the kinked units;
   infinite data: each kinked unit as a whole. */
int dyn_kinks_create(const dyn_problem *pb, dyn_kinks **out, mlpf_error *err);
void dyn_kinks_free(dyn_kinks *k);

/* Compare the pre-activations at y (p) with those of the previous call:
   returns in *flips how many (unit, sample) pairs sit at a kink (within the
   solver's abstol: a change of each incoming weight by abstol could move
   them across it) and changed side since then; per unit counts accumulate
   for dyn_kinks_name. The first call (and the first after dyn_kinks_reset)
   only records the sides. */
int dyn_kinks_check(dyn_kinks *k, const double *y, long *flips, mlpf_error *err);
/* How many units sat at a kink as a whole in the last check (every sample
   of theirs; infinite data: weights and bias within abstol): a unit whose
   weights went to 0. They count for dyn_kinks_name. */
int dyn_kinks_whole(dyn_kinks *k);
/* Forget the previous sides and the accumulated counts. */
void dyn_kinks_reset(dyn_kinks *k);
/* The units with flips since the last reset, most first: "w1[3] (812
   flips), w1[0] (4 flips)" ("w1[3]" = row 3, 0-based, of layer w1 of the
   parameter dictionary; flips summed over samples and checks); a unit
   wholly at its kink "w1[0] (all samples)"; infinite data: "w1[3]". */
void dyn_kinks_name(const dyn_kinks *k, char *buf, size_t len);

#endif
