"""Our TFX components and what they share.

The image-folder and TFDS ExampleGens with the bad-image report, the DataGate, the multi-arm Evaluator, the
PairedComparison, the ServabilityCheck, the comparison report, the model card, the curated schema and the demo
data (components/README.md lists every module).

    from components.image_folder_example_gen import ImageFolderExampleGen
    from components.tfds_example_gen import TfdsExampleGen
    from components import read_label_names
"""

import importlib

from components.labels import read_label_names

# Our artifact types, reachable as ``components.<Type>``: that is their TYPE_NAME, and TFX's
# Kubeflow container rebuilds an artifact by importing its type's name as ``<module>.<class>``.
# Loaded on first use, so importing ``components`` does not load TensorFlow.
ARTIFACT_TYPE_MODULES = {
    "PairedComparisonArtifact": "components.paired_comparison",
    "ComparisonReportArtifact": "components.comparison_report",
    "DataGateArtifact": "components.data_gate",
    "DecodedImages": "components.decode_images",
    "ModelCardArtifact": "components.model_card",
}

__all__ = ["read_label_names", *ARTIFACT_TYPE_MODULES]


def __getattr__(name):
    if name in ARTIFACT_TYPE_MODULES:
        return getattr(importlib.import_module(ARTIFACT_TYPE_MODULES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
