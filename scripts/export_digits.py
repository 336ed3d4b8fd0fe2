#!/usr/bin/env python3
"""Export the 8 x 8 handwritten digits that Debian's python3-sklearn ships (1797 images,
10 classes; no download) to .npy files for mlpflow:

    digits_X.npy  (1797, 64) float64, pixel intensities scaled from 0..16 to [0, 1]
    digits_y.npy  (1797,)    float64, the class labels 0..9 (softmax cross-entropy)

Usage: scripts/export_digits.py [OUTDIR]   (default: the current directory)
Exit status 2 with a message when scikit-learn is not installed
(apt-get install python3-sklearn)."""
import os
import sys

import numpy as np


def export(outdir):
    """Write digits_X.npy and digits_y.npy into outdir; returns their paths."""
    from sklearn.datasets import load_digits
    d = load_digits()
    X = np.ascontiguousarray(d.data, dtype=np.float64) / 16.0
    y = np.ascontiguousarray(d.target, dtype=np.float64)
    os.makedirs(outdir, exist_ok=True)
    px, py = os.path.join(outdir, "digits_X.npy"), os.path.join(outdir, "digits_y.npy")
    np.save(px, X)
    np.save(py, y)
    return px, py


if __name__ == "__main__":
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("export_digits: scikit-learn is not installed (apt-get install python3-sklearn)",
              file=sys.stderr)
        sys.exit(2)
    for path in export(sys.argv[1] if len(sys.argv) > 1 else "."):
        print(path)
