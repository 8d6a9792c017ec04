"""TFX ingestion components for the resizer pipeline.

Light to import: the TFX components are loaded on first use.

    from components.image_folder_example_gen import ImageFolderExampleGen
    from components.tfds_example_gen import TfdsExampleGen
    from components import read_label_names
"""

from components.labels import LABEL_NAMES_FILE, LABEL_NAMES_PROPERTY, read_label_names

__all__ = [
    "ImageFolderExampleGen",
    "TfdsExampleGen",
    "read_label_names",
    "LABEL_NAMES_FILE",
    "LABEL_NAMES_PROPERTY",
]


def __getattr__(name):  # PEP 562: lazy access to the heavy modules
    if name == "ImageFolderExampleGen":
        from components.image_folder_example_gen import ImageFolderExampleGen

        return ImageFolderExampleGen
    if name == "TfdsExampleGen":
        from components.tfds_example_gen import TfdsExampleGen

        return TfdsExampleGen
    if name == "schema":
        import importlib

        return importlib.import_module("components.schema")
    raise AttributeError(f"module 'components' has no attribute {name!r}")
