"""The names every part of the project must agree on, defined once.

Arm names, record feature keys, artifact file names, serving signatures and
their tensors, the gated metric, split names and component ids are written
by one package and read by another (the ExampleGens write what Transform and
the Trainer read, the Trainer writes what the report and serving read...).
Every package imports them from here, so renaming one is one edit.

Pure Python with no imports: the ``trainer`` package runs inside TFX
executors without ``pipeline/`` or ``components/``, and everything else may
import this without loading TensorFlow.
"""

# --- the arms of the comparison -----------------------------------------------------------------
# Every arm is the same backbone and head behind a different resizing stage (trainer/resizers.py says
# what each computes). One arm is the baseline, the others are candidates compared with it.

LEARNABLE_RESIZER_ARM = "learnable_resizer"  # Talebi & Milanfar 2021 (the seed's)
MULLER_ARM = "muller"  # Tu, Milanfar & Talebi 2023: multilayer Laplacian resizer
BILINEAR_BASELINE_ARM = "bilinear_baseline"  # the seed's baseline: bilinear, no antialiasing
BILINEAR_ANTIALIAS_ARM = "bilinear_antialias"
LANCZOS3_ANTIALIAS_ARM = "lanczos3_antialias"
BICUBIC_ARM = "bicubic"
AREA_ARM = "area"
LEARNED_ARMS = (LEARNABLE_RESIZER_ARM, MULLER_ARM)  # a resizing stage with trainable weights
FIXED_ARMS = (BILINEAR_BASELINE_ARM, BILINEAR_ANTIALIAS_ARM, LANCZOS3_ANTIALIAS_ARM, BICUBIC_ARM, AREA_ARM)
ALL_ARMS = LEARNED_ARMS + FIXED_ARMS
DEFAULT_CANDIDATES = (LEARNABLE_RESIZER_ARM, MULLER_ARM)
DEFAULT_BASELINE = BILINEAR_BASELINE_ARM
# The pushed model is the chosen candidate, whichever it is; TF Serving serves it under this name by default.
SERVED_MODEL_NAME = "resizer_classifier"

# --- the canonical image record (one tf.train.Example per image) -----------------------------

IMAGE_KEY = "image/encoded"
IMAGE_FORMAT_KEY = "image/format"
IMAGE_HEIGHT_KEY = "image/height"
IMAGE_WIDTH_KEY = "image/width"
FILENAME_KEY = "image/filename"
LABEL_KEY = "label"
LABEL_NAME_KEY = "label_name"
RECORD_FEATURE_KEYS = (
    IMAGE_KEY,
    IMAGE_FORMAT_KEY,
    IMAGE_HEIGHT_KEY,
    IMAGE_WIDTH_KEY,
    FILENAME_KEY,
    LABEL_KEY,
    LABEL_NAME_KEY,
)
# ExampleValidator anomalies in these features stop the pipeline before Transform (data.continue_on_anomalies).
GATED_FEATURE_KEYS = (IMAGE_KEY, IMAGE_FORMAT_KEY, IMAGE_HEIGHT_KEY, IMAGE_WIDTH_KEY, LABEL_KEY, LABEL_NAME_KEY)

# What preprocessing_fn outputs (the Transform graph's features).
TRANSFORMED_IMAGE_KEY = "image"
TRANSFORMED_LABEL_KEY = "label"

# --- splits ------------------------------------------------------------------------------------

TRAIN_SPLIT = "train"  # what the Trainers fit on
VALIDATION_SPLIT = "validation"  # Keras validation, and anything used to tune
TEST_SPLIT = "test"  # read only by the Evaluator and the gate
REQUIRED_SPLITS = (TRAIN_SPLIT, VALIDATION_SPLIT, TEST_SPLIT)

# --- locations -------------------------------------------------------------------------------------


def is_remote(path: str) -> bool:
    """True for a location with a scheme (``gs://...``, ``s3://...``).

    Such a location is read and written with ``tf.io.gfile``, never made absolute or checked with ``os.path``.
    """
    return "://" in path


# --- files inside artifacts ----------------------------------------------------------------

LABEL_NAMES_FILE = "label_names.txt"  # Examples artifact: class names, one per line, in label order
LABEL_NAMES_PROPERTY = "label_names"  # Examples artifact custom property: the same, as a JSON list
BAD_IMAGES_FILE = "bad_images.tsv"  # Examples artifact: one line per converted or skipped file
INGEST_REPORT_FILE = "ingest_report.json"  # Examples artifact: counts per split, outcome and reason
DATA_GATE_FILE = "data_gate.json"  # DataGate artifact: the class-name check, every anomaly in words, the decision
TRAINING_SUMMARY_FILE = "training_summary.json"  # ModelRun artifact: config, history, images/s
RESIZER_PICTURE_FILE = "resizer_picture.png"  # Model artifact, beside Format-Serving
MODEL_COST_FILE = "model_cost.json"  # Model artifact, beside Format-Serving: parameters and FLOPs per image
SCHEMA_FILE = "schema.pbtxt"  # the curated schema ImportSchemaGen reads

# The comparison report (artifact and report_dir).
REPORT_MARKDOWN_FILE = "report.md"
REPORT_HTML_FILE = "report.html"
REPORT_SUMMARY_FILE = "summary.json"
TRAINING_CURVES_FILE = "training_curves.png"
# The model card (its artifact, and beside the pushed SavedModel in the pushed version directory).
MODEL_CARD_MARKDOWN_FILE = "model_card.md"
MODEL_CARD_HTML_FILE = "model_card.html"
MODEL_CARD_JSON_FILE = "model_card.json"  # the Model Card Toolkit's section and field names where they apply
# The paired comparison (its artifact, and copied beside the report).
PREDICTIONS_FILE = "predictions.csv"  # per example: file name, label, each arm's class and probabilities
COMPARISON_FILE = "comparison.json"  # the typed verdict (components/verdict.py): arms, comparisons, chosen, rule
# The seeds sweep (report_dir).
SWEEP_MARKDOWN_FILE = "sweep.md"
SWEEP_SUMMARY_FILE = "sweep.json"
SWEEP_PLOT_FILE = "sweep.png"

# --- the serving SavedModel --------------------------------------------------------------------

SERVING_DEFAULT_SIGNATURE = "serving_default"  # image bytes in
SERVING_TF_EXAMPLE_SIGNATURE = "serving_tf_example"  # serialized tf.Example in (Evaluator)
TRANSFORM_IMAGES_SIGNATURE = "transform_images"  # image bytes in, the Transform output out
IMAGE_BYTES_INPUT = "image_bytes"
EXAMPLES_INPUT = "examples"
PROBABILITIES_OUTPUT = "probabilities"
CLASS_ID_OUTPUT = "class_id"
CLASS_NAME_OUTPUT = "class_name"
SAVED_MODEL_FILE = "saved_model.pb"  # TensorFlow's; every Pusher version directory holds one
SERVING_TAG = "serve"  # the MetaGraph tag TF Serving loads
# TF Serving's warm-up file, replayed when a version loads: <version>/assets.extra/tf_serving_warmup_requests,
# a TFRecord of tensorflow.serving.PredictionLog records.
WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
SERVABILITY_FILE = "servability.json"  # InfraBlessing artifact: the servability check's requests and verdict

# --- batch inference (pipeline_runner.py infer) ----------------------------------------------------

# The predictions CSV: one row per classified image.
FILENAME_COLUMN = "filename"  # the path relative to the input directory (or the glob's fixed part)
CLASS_COLUMN = "class"  # the model's class_name
PROBABILITY_COLUMN_PREFIX = "p_"  # then one column per class: p_<class name>, in class order
# Images per call of the model (the demo profile's batch size); 16 keeps a DenseNet-121 batch at 300x300
# well inside a CPU worker's memory.
DEFAULT_INFER_BATCH_SIZE = 16

# --- evaluation ----------------------------------------------------------------------------------

# TFMA's name for the gated metric (class SparseCategoricalAccuracy).
ACCURACY_METRIC = "sparse_categorical_accuracy"
ACCURACY_METRIC_CLASS = "SparseCategoricalAccuracy"

# --- the model's own Keras layers ------------------------------------------------------------------

# The package every custom layer is registered under for Keras serialization (``resizer_tfx>LearnableResizer``):
# a saved model's config names it, so renaming it breaks loading models saved before.
KERAS_PACKAGE = "resizer_tfx"

# --- the pipeline's module functions and configuration hand-over ------------------------------

PREPROCESSING_FN = "trainer.preprocessing.preprocessing_fn"
RUN_FN = "trainer.run.run_fn"
TUNER_FN = "trainer.run.tuner_fn"  # TFX's Tuner (KerasTuner), one per arm when tuning.trials > 0
# custom_config of Transform and the Trainers: {TRAINING_CONFIG_KEY: {...}, CODE_FINGERPRINT_KEY: "..."}
TRAINING_CONFIG_KEY = "training"
CODE_FINGERPRINT_KEY = "code_fingerprint"
# With tuning.trials > 0, a Tuner's and a Trainer's custom_config also carry {TUNING_CONFIG_KEY: {...}}.
TUNING_CONFIG_KEY = "tuning"

# --- the hyperparameter search (TFX's Tuner with KerasTuner) ---------------------------------------
# Each name is the TrainingConfig field it sets, so the chosen values replace those fields in the Trainer.

HP_FILTERS = "filters"
HP_NUM_RES_BLOCKS = "num_res_blocks"
HP_LEARNING_RATE = "learning_rate"
# What each arm's Tuner searches: the learnable resizer its resizer's size and the learning rate; every other
# arm the learning rate alone, so the baseline gets the same learning-rate search as the candidates.
TUNED_HYPERPARAMETERS = {arm: ((HP_FILTERS, HP_NUM_RES_BLOCKS, HP_LEARNING_RATE) if arm == LEARNABLE_RESIZER_ARM
                               else (HP_LEARNING_RATE,)) for arm in ALL_ARMS}
# The score every trial is ranked by (lower is better): Keras' validation loss, smoother than the accuracy of a
# small validation split.
TUNER_OBJECTIVE = "val_loss"
TUNER_BEST_HYPERPARAMETERS_OUTPUT = "best_hyperparameters"  # TFX's Tuner output the Trainer reads

# --- component ids -------------------------------------------------------------------------------

IMAGE_FOLDER_EXAMPLE_GEN_ID = "ImageFolderExampleGen"
TFDS_EXAMPLE_GEN_ID = "TfdsExampleGen"
STATISTICS_GEN_ID = "StatisticsGen"
SCHEMA_GEN_ID = "SchemaGen"
IMPORT_SCHEMA_GEN_ID = "ImportSchemaGen"
EXAMPLE_VALIDATOR_ID = "ExampleValidator"
DATA_GATE_ID = "DataGate"  # after ExampleValidator, before Transform: label names and anomalies
TRANSFORM_ID = "Transform"
DECODE_IMAGES_ID = "DecodeImages"  # after Transform: the training splits decoded once for every Trainer and Tuner
EVALUATOR_ID = "Evaluator"
PAIRED_COMPARISON_ID = "PairedComparison"
SERVABILITY_CHECK_ID = "ServabilityCheck"  # TFX's InfraValidator contract: an InfraBlessing the Pusher reads
PUSHER_ID = "Pusher"
COMPARISON_REPORT_ID = "ComparisonReport"
MODEL_CARD_ID = "ModelCard"
RUNTIME_CONFIG_ID = "RuntimeConfig"  # Kubeflow only


def tuner_id(arm: str) -> str:
    """The Tuner component of ``arm``: ``Tuner_learnable_resizer``, ``Tuner_bilinear_baseline``."""
    return f"Tuner_{arm}"


def trainer_id(arm: str) -> str:
    """The Trainer component of ``arm``: ``Trainer_learnable_resizer``, ``Trainer_bilinear_baseline``."""
    return f"Trainer_{arm}"


# The components that read every arm (Evaluator, PairedComparison, ComparisonReport) take one optional input
# per arm under these names; the arm is the key, so no artifact needs to say which arm it is.
def model_input(arm: str) -> str:
    """The input key of ``arm``'s Model artifact: ``learnable_resizer_model``."""
    return f"{arm}_model"


def model_run_input(arm: str) -> str:
    """The input key of ``arm``'s ModelRun artifact: ``learnable_resizer_model_run``."""
    return f"{arm}_model_run"


# The DecodedImages artifact (components/decode_images.py): per split ``Split-<name>/`` these files
# (trainer/data.py writes and reads them); Trainers and Tuners get its URI in their custom_config.
DECODED_IMAGES_FILE = "images.npy"  # uint8 (N, H, W, 3), the Transform output rounded, canonical order
DECODED_LABELS_FILE = "labels.npy"  # int64 (N,)
DECODED_KEYS_FILE = "keys.json"  # N example keys (file name, or sha256:<hex> of the encoded image)
DECODED_IMAGES_CONFIG_KEY = "decoded_images_uri"
DECODED_IMAGES_INPUT = "decoded_images"  # the Trainer's and Tuner's input of that artifact

# The control experiment (training.warm_start_epochs): the baseline trained first, every arm continues from it.
WARM_START_TRAINER_ID = "Trainer_warm_start"
WARM_START_SOURCE_KEY = "warm_start_source"  # in its custom_config: save what the continued arms load
WARM_START_BACKBONE_FILE = "warm_start_backbone.weights.h5"  # beside Format-Serving in the Model artifact
WARM_START_HEAD_FILE = "warm_start_head.npz"
