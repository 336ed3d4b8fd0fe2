"""Sphinx configuration of the mlpflow Python API reference (built by `make docs`)."""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
import mlpflow  # noqa: E402  (needs libmlpflow.so: MLPFLOW_LIB or the build tree)

project = "mlpflow"
author = "the mlpflow authors"
release = version = mlpflow.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
html_theme = "alabaster"
exclude_patterns = ["_build"]
nitpicky = False
