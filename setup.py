"""resizer-tfx: a TFX pipeline for learnable image resizing.

Exact versions live in requirements/constraints.txt (the lock we test);
install with ``scripts/setup_env.sh`` or
``pip install -c requirements/constraints.txt -e .``.
"""

import setuptools

setuptools.setup(
    name="resizer-tfx",
    version="0.1.0",
    description=(
        "TFX pipeline training a learnable image resizer + a keras.applications backbone "
        "against a bilinear baseline (Talebi & Milanfar 2021)"
    ),
    python_requires=">=3.10,<3.11",
    packages=setuptools.find_packages(include=["pipeline", "components", "trainer", "serving"]),
    py_modules=["pipeline_runner"],
    install_requires=[
        "tfx[kfp]==1.16.0",
        "tensorflow==2.16.2",
        "keras==3.12.4",
        "keras-tuner==1.4.8",  # the Tuner's search (trainer/run.py tuner_fn)
        "tf-keras==2.16.0",
        "tensorflow-datasets==4.9.10",
        "tensorflow-serving-api==2.16.1",
        "apache-beam[gcp]==2.61.0",
        "pillow",
        "scipy",  # paired statistics of the comparison
        "jinja2",  # the report templates
        "matplotlib",  # the report's plots
        "psutil",  # the memory available, for training.image_cache auto
    ],
    extras_require={"test": ["pytest", "pytest-xdist", "ruff"]},  # ruff: the linter `make test` runs first
    entry_points={"console_scripts": ["resizer-tfx=pipeline_runner:main"]},
)
