"""setuptools entry point: the metadata is in pyproject.toml. The package may carry
libmlpflow.so (``make python``), so its wheel is tagged for this platform."""
from setuptools import setup
from setuptools.dist import Distribution


class BinaryDistribution(Distribution):
    """A distribution with a compiled library inside (platform-specific wheel)."""

    def has_ext_modules(self):
        return True


setup(distclass=BinaryDistribution)
