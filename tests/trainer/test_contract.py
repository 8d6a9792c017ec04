"""trainer.contract: dependency-free, and the one place its names are written out."""

import ast
import os
import subprocess
import sys

from trainer import contract

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ("pipeline", "components", "serving", "trainer", "bench", "tests")
CONTRACT_FILE = os.path.join(ROOT, "trainer", "contract.py")

# Names distinctive enough that a string literal equal to one is that name written out again.
# (Short generic ones such as "label", "image", "train" are left out: they mean other things too.)
DISTINCTIVE = [
    contract.LEARNABLE_RESIZER_ARM, contract.MULLER_ARM, contract.BILINEAR_BASELINE_ARM,
    contract.BILINEAR_ANTIALIAS_ARM, contract.LANCZOS3_ANTIALIAS_ARM, contract.SERVED_MODEL_NAME,
    contract.IMAGE_KEY, contract.FILENAME_KEY, contract.MODEL_COST_FILE, contract.COMPARISON_FILE,
    contract.LABEL_NAMES_FILE, contract.BAD_IMAGES_FILE, contract.INGEST_REPORT_FILE, contract.TRAINING_SUMMARY_FILE,
    contract.DATA_GATE_FILE, contract.RESIZER_PICTURE_FILE, contract.SERVING_DEFAULT_SIGNATURE,
    contract.SERVING_TF_EXAMPLE_SIGNATURE, contract.TRANSFORM_IMAGES_SIGNATURE, contract.MODEL_CARD_MARKDOWN_FILE,
    contract.MODEL_CARD_HTML_FILE, contract.MODEL_CARD_JSON_FILE, contract.ACCURACY_METRIC, contract.PREPROCESSING_FN,
    contract.RUN_FN,
    *(contract.trainer_id(arm) for arm in contract.ALL_ARMS),
]


# Equal to a contract name by coincidence, with a different meaning.
NOT_THE_CONTRACT = {
    # TFDS's own feature name in cats_vs_dogs (what the TFDS ExampleGen reads, not what it writes).
    ("components/tfds_example_gen.py", contract.FILENAME_KEY),
    ("tests/components/fixtures.py", contract.FILENAME_KEY),
    ("tests/components/test_tfds_example_gen.py", contract.FILENAME_KEY),
    # TrainingConfig's field of MULLER's settings (trainer/config.py), named like the arm it configures.
    ("components/model_card.py", contract.MULLER_ARM),
    ("tests/components/test_model_card.py", contract.MULLER_ARM),
}


def python_files():
    for package in PACKAGES:
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    yield os.path.join(folder, name)
    yield os.path.join(ROOT, "pipeline_runner.py")


def test_imports_nothing():
    tree = ast.parse(open(CONTRACT_FILE).read())
    assert not [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    # Importing it loads no TensorFlow (the trainer package's __init__ only sets environment variables).
    probe = "import sys, trainer.contract; print('tensorflow' in sys.modules, 'pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_names_are_written_out_only_in_the_contract():
    found = []
    for path in python_files():
        if path == CONTRACT_FILE:
            continue
        for node in ast.walk(ast.parse(open(path).read())):
            relative = os.path.relpath(path, ROOT)
            if isinstance(node, ast.Constant) and node.value in DISTINCTIVE and (
                    (relative, node.value) not in NOT_THE_CONTRACT):
                found.append(f"{relative}:{node.lineno}: {node.value!r}")
    assert not found, "use trainer.contract instead:\n" + "\n".join(found)


def test_names_are_distinct_where_they_must_be():
    assert len(set(contract.ALL_ARMS)) == len(contract.ALL_ARMS) == 7
    assert set(contract.LEARNED_ARMS) | set(contract.FIXED_ARMS) == set(contract.ALL_ARMS)
    assert contract.DEFAULT_BASELINE in contract.FIXED_ARMS
    assert set(contract.DEFAULT_CANDIDATES) <= set(contract.ALL_ARMS) - {contract.DEFAULT_BASELINE}
    # Every arm's inputs of the multi-arm components are distinct names.
    keys = [key(arm) for arm in contract.ALL_ARMS for key in (contract.model_input, contract.model_run_input)]
    assert len(set(keys)) == len(keys)
    assert len(set(contract.RECORD_FEATURE_KEYS)) == len(contract.RECORD_FEATURE_KEYS)
    files = [contract.LABEL_NAMES_FILE, contract.BAD_IMAGES_FILE, contract.INGEST_REPORT_FILE, contract.DATA_GATE_FILE,
             contract.TRAINING_SUMMARY_FILE, contract.RESIZER_PICTURE_FILE, contract.REPORT_MARKDOWN_FILE,
             contract.REPORT_HTML_FILE, contract.REPORT_SUMMARY_FILE, contract.MODEL_CARD_MARKDOWN_FILE,
             contract.MODEL_CARD_HTML_FILE, contract.MODEL_CARD_JSON_FILE]
    assert len(set(files)) == len(files)
    assert contract.trainer_id(contract.MULLER_ARM) == f"Trainer_{contract.MULLER_ARM}"


def test_every_custom_layer_is_registered_under_the_one_keras_package():
    import keras

    from trainer.backbones import InputScaling
    from trainer.learnable_resizer import LearnableResizer, ResidualBlock
    from trainer.muller import MullerResizer

    for layer in (InputScaling, LearnableResizer, ResidualBlock, MullerResizer):
        assert keras.saving.get_registered_name(layer) == f"{contract.KERAS_PACKAGE}>{layer.__name__}"
    # No module names the package itself: each passes the contract's name.
    written_out = []
    for name in sorted(os.listdir(os.path.join(ROOT, "trainer"))):
        if name.endswith(".py"):
            for node in ast.walk(ast.parse(open(os.path.join(ROOT, "trainer", name)).read())):
                if isinstance(node, ast.keyword) and node.arg == "package" and isinstance(node.value, ast.Constant):
                    written_out.append(f"trainer/{name}:{node.value.lineno}")
    assert not written_out, written_out
