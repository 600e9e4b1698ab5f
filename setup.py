"""Which files the package is built from; everything else (metadata, dependencies, scripts) is in
pyproject.toml.

The sample images and speech clips have one copy in git, the top-level ``data/`` folder, and every
wheel or regular install carries them as the package data folder ``cs_toolkit/_sample_data``: the
``package_dir`` entry below builds that package from ``data/``. An editable install reads ``data/``
in the checkout instead (``cs_toolkit.data.data_dir`` looks in both places). The mapping lives here
because pyproject.toml's ``packages.find`` cannot add a package whose folder lies outside
``cs_toolkit/``; ``tests/test_packaging.py`` checks that the wheel holds every file of ``data/``
and every shipped model.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["cs_toolkit", "cs_toolkit.*"]), "cs_toolkit._sample_data"],
    package_dir={"cs_toolkit._sample_data": "data"},
    package_data={
        "cs_toolkit.learned": ["models/*.npz", "models/README.md"],
        "cs_toolkit._sample_data": ["*"],  # the whole data/ folder: samples and their licences
    },
)
