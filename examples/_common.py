"""Shared start of the examples: --out / --quick, and finding mlpflow from the repo."""
import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
try:
    import mlpflow  # noqa: F401
except ImportError:                      # running from a checkout without installing
    sys.path.insert(0, str(REPO / "python"))


def args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", default=str(REPO / "examples" / "out"),
                   help="directory for the PNG files (default examples/out)")
    p.add_argument("--quick", action="store_true", help="small and fast (for CI)")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    return a
