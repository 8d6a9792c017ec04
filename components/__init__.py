"""Our TFX components: the image-folder and TFDS ExampleGens with the bad-image report,
the comparison report, the curated schema and the demo data.

    from components.image_folder_example_gen import ImageFolderExampleGen
    from components.tfds_example_gen import TfdsExampleGen
    from components import read_label_names
"""

from components.labels import read_label_names

__all__ = ["read_label_names"]
