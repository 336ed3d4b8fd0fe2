/* watch.c - the minimiser-phase channel watch: a minimiser that follows a
   flat channel to infinity (Martinelli et al. 2025) lowers the loss by
   tiny amounts per iteration while output weights grow without bound; it
   would run to maxiterations (86 696 Newton iterations, 33 s on `mlpflow
   example --seed 4`). The watch looks at the iterates every WATCH_EVERY
   accepted iterations (iteration counts, not the clock, so the verdict is
   reproducible) and calls a channel when the largest |y_i| grew at each of
   WATCH_CHECKS checks in a row while the loss fell by less than
   WATCH_LOSS_DROP over them. Measured on the README problem (Newton TR,
   loss at checks 50 accepted iterations apart): in the seed-4 channel the
   weights grow 5-25 % per check and the loss falls 0.6 % over six checks,
   then 0.05 %; seed 9 passes a channel-like stretch (weights growing 10-40
   % per check) whose loss still falls 6-7 % over six checks and then
   leaves it for loss 3e-13; in the curved valleys of degenerate minima the
   weights hardly move while the loss falls by orders of magnitude. Checks
   200 iterations apart (a 1 200-iteration window) let a run go on to
   output weights ~430 in the tanh channel of python/tests/test_classify.py,
   whose GLU limit is accurate to O(1/a^2) only there; 50 apart it stopped
   at ~300. The same checks also end a crawl along a flat valley with
   "stalled" (see WATCH_CRAWL_CHECKS). */
#include "dynamics/dynamics.h"

#include <math.h>
#include <string.h>

#define WATCH_EVERY 200
#define WATCH_CHECKS DYN_WATCH_CHECKS
#define WATCH_GROWTH 5e-3
#define WATCH_LOSS_DROP 1e-2
#define WATCH_GNORM 1.5e-8 /* ~sqrt(eps) */
/* A crawl: over the last WATCH_CRAWL_CHECKS checks (5 000 accepted
   iterations) the loss fell by less than WATCH_CRAWL_DROP and the gradient
   did not fall tenfold, at a gradient below the channel test's bound (a
   permutation point of examples/10 lowers its loss by 15 % after a
   5 000-iteration stretch at gradient 4e-6 that fell by < 0.1 %). README
   problem, seed 10 (flow handed over at t = 2.8e14 by the build of commit
   71bb41e): Newton TR crept along a flat
   valley at loss 3.1189e-9 with output weights ~200 shrinking by ~1 % per
   2 000 iterations (so not a channel by the test above), the loss falling
   6e-7 relative over 5 000 iterations and the gradient wandering between
   4e-14 and 4e-9, for 100 000 iterations (126 s). Ordinary runs lower the
   loss by orders of magnitude in that many iterations, or, polishing a
   minimum at non-zero loss, lower the gradient. */
#define WATCH_CRAWL_CHECKS DYN_WATCH_CRAWL_CHECKS
#define WATCH_CRAWL_DROP 1e-3

void dyn_watch_init(dyn_watch *w) {
    memset(w, 0, sizeof *w);
    w->next = WATCH_EVERY;
}

/* The crawl test at a check (see WATCH_CRAWL_CHECKS). */
static int crawling(dyn_watch *w, double f, double gnorm) {
    int slot = w->checks % WATCH_CRAWL_CHECKS, full = w->checks >= WATCH_CRAWL_CHECKS;
    double lthen = w->crawl_loss[slot], gthen = w->crawl_gnorm[slot];
    w->crawl_loss[slot] = f;
    w->crawl_gnorm[slot] = gnorm;
    return full && f >= (1 - WATCH_CRAWL_DROP) * lthen && gnorm >= 0.1 * gthen &&
           gnorm <= WATCH_GNORM * fmax(1.0, fabs(f));
}

dyn_stop dyn_watch_check(dyn_watch *w, const double *y, size_t p, double f, double gnorm,
                         long accepted) {
    if (accepted < w->next) return DYN_GO;
    w->next = accepted + WATCH_EVERY;
    double ymax = 0;
    for (size_t i = 0; i < p; i++) ymax = fmax(ymax, fabs(y[i]));
    int grew = w->ymax > 0 && ymax >= w->ymax * (1 + WATCH_GROWTH);
    w->ymax = ymax;
    /* the loss WATCH_CHECKS checks ago sits where this one goes */
    int slot = w->checks % WATCH_CHECKS, full = w->checks >= WATCH_CHECKS;
    double then = w->loss[slot];
    w->loss[slot] = f;
    int crawl = crawling(w, f, gnorm);
    w->checks++;
    w->growing = grew ? w->growing + 1 : 0;
    /* a channel looks like a flat minimum: its gradient is tiny (1e-13 ...
       1e-10 in the channels above); a run whose gradient is still 1e-6
       (a tied objective of tests/test_symmetry.c at loss 0.7, growing
       slowly for 1 400 iterations, then converging) is on its way */
    if (full && w->growing >= WATCH_CHECKS && f >= (1 - WATCH_LOSS_DROP) * then &&
        gnorm <= WATCH_GNORM * fmax(1.0, fabs(f)))
        return DYN_CHANNEL;
    return crawl ? DYN_STALLED : DYN_GO;
}
