/* npz_read.h - reading one array out of a numpy .npz (kept apart from the
   writer in npz.c so that a fuller result reader can replace it). */
#ifndef MLPF_NPZ_READ_H
#define MLPF_NPZ_READ_H

#include "io/io.h"

/* The entry `name` (without ".npy") of the .npz at path as float64 C order.
   STORED entries only (numpy.savez and mlpflow write those; savez_compressed
   is refused by name); zip64 sizes are understood. Missing entries give
   MLPF_EINVAL naming the entries present. *data is malloc'ed. */
int mlpf_npz_read(const char *path, const char *name, double **data, size_t shape[2], int *ndim,
                  mlpf_error *err);

/* 1 when path ends in ".npz". */
int mlpf_is_npz_path(const char *path);

#endif
