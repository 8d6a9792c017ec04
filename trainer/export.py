"""The serving SavedModel: the trained classifier behind the Transform graph.

Signatures:
  ``serving_default``     image_bytes: string (B,) encoded JPEG/PNG/GIF/BMP of any
                          size (TF Serving's REST ``{"b64": ...}``) -> probabilities,
                          class_id, class_name
  ``serving_tf_example``  examples: string (B,) serialized tf.Example (TFX
                          Evaluator/BulkInferrer; TFMA ``model_type='tf_generic'``)
                          -> the same outputs
  ``transform_images``    image_bytes -> image: float32 (B, H, W, 3) in [0, 255],
                          the Transform graph on its own

Bad inputs (empty bytes, bytes that are no image) fail the request with an
INVALID_ARGUMENT error naming the problem; the server process carries on.
"""

import tensorflow as tf

from trainer import contract
from trainer.contract import IMAGE_KEY, TRANSFORMED_IMAGE_KEY


class ServingModule(tf.Module):
    """Holds the Keras model's variables and the Transform graph so ``tf.saved_model.save`` can export both.

    Args:
        model: the trained classifier (float32 images (B, H, W, 3) in [0, 255] in, probabilities
            (B, num_classes) out; :func:`trainer.models.build_classifier`).
        tf_transform_output: the ``tft.TFTransformOutput`` the model was trained behind.
        class_names: the class names in label order (``class_name`` output).
    """

    def __init__(self, model, tf_transform_output, class_names):
        super().__init__(name="resizer_serving")
        # The Keras object stays out of the SavedModel (saving it would serialize and retrace it:
        # 4 s more per export of DenseNet-121 here); its variables are what the signatures need.
        self.__dict__["_keras_model"] = model
        # The tf.Variables under Keras 3's variables, not Keras' wrappers: Keras 3 exports each wrapper as a second
        # variable (keras/src/backend/tensorflow/core.py, Variable._export_to_saved_model_graph) that the checkpoint
        # restores while the signatures read the first, so a loader that restores through the graph's saver (TF
        # Serving's C++ loader, tf.compat.v1's) left every variable the signatures read uninitialized.
        self.model_variables = [_tf_variable(v) for v in model.variables]
        # TFT's layer stays out too. A Keras 2 model, saved as the SavedModel's only Keras 2 object, Keras 2
        # takes it for the root and traces a default signature and its call functions with AutoGraph (about
        # 8 s per export on 2 cores) and the loaders restore them. What the signatures need of it is the
        # loaded Transform graph (its functions, resources, assets), which the layer tracks under this
        # attribute (tensorflow_transform/output_wrapper.py, TransformFeaturesLayer); tracking it here saves
        # the same graph.
        tft_layer = tf_transform_output.transform_features_layer()
        self.__dict__["_tft_layer"] = tft_layer
        self.transform_graph = tft_layer._saved_model_loader_tracked_dict
        self.class_names = tf.constant(list(class_names), dtype=tf.string)
        # Only the image is parsed: other features may be absent at serving time.
        self._image_spec = {IMAGE_KEY: tf_transform_output.raw_feature_spec()[IMAGE_KEY]}
        # SchemaGen may infer the image feature as shape [] or [1]: feed what Transform was traced with.
        self._image_shape = [-1] + list(self._image_spec[IMAGE_KEY].shape)
        # One traced model call shared by every signature (tracing DenseNet-121 takes seconds). The functions
        # live in a plain dict outside the module's tracking: tf.saved_model.save traces a module's tf.function
        # attributes once more for their own serialization (the model again); only the signatures are saved.
        # AutoGraph is off: nothing here branches in Python on a tensor, and converting the calls made under
        # these functions took about 8 s of each DenseNet-121 export on 2 cores.
        height, width = model.input_shape[1:3]
        predict = tf.function(
            self._predict_images, autograph=False,
            input_signature=[tf.TensorSpec([None, height, width, 3], tf.float32, name=TRANSFORMED_IMAGE_KEY)],
        )

        def serve_image_bytes(image_bytes):
            return predict(self._transform(image_bytes))

        def serve_tf_examples(examples):
            features = tf.io.parse_example(examples, self._image_spec)
            return predict(self._transform(features[IMAGE_KEY]))

        def transform_images(image_bytes):
            return {TRANSFORMED_IMAGE_KEY: self._transform(image_bytes)}

        image_bytes = tf.TensorSpec([None], tf.string, name=contract.IMAGE_BYTES_INPUT)
        examples = tf.TensorSpec([None], tf.string, name=contract.EXAMPLES_INPUT)
        self.__dict__["_signature_functions"] = {
            contract.SERVING_DEFAULT_SIGNATURE: tf.function(serve_image_bytes, [image_bytes], autograph=False),
            contract.SERVING_TF_EXAMPLE_SIGNATURE: tf.function(serve_tf_examples, [examples], autograph=False),
            contract.TRANSFORM_IMAGES_SIGNATURE: tf.function(transform_images, [image_bytes], autograph=False),
        }

    def _transform(self, image_bytes):
        image_bytes = tf.reshape(image_bytes, self._image_shape)
        return self._tft_layer({IMAGE_KEY: image_bytes})[TRANSFORMED_IMAGE_KEY]

    def _predict_images(self, images):
        num_classes = self.class_names.shape[0]
        # An empty batch answers empty outputs (oneDNN's fused conv rejects zero-size input).
        probabilities = tf.cond(
            tf.shape(images)[0] > 0,
            lambda: tf.cast(self._keras_model(images, training=False), tf.float32),
            lambda: tf.zeros([0, num_classes], tf.float32),
        )
        class_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {
            contract.PROBABILITIES_OUTPUT: probabilities,
            contract.CLASS_ID_OUTPUT: class_id,
            contract.CLASS_NAME_OUTPUT: tf.gather(self.class_names, class_id),
        }

    def signatures(self):
        """The three signatures by name (``serving_default``, ``serving_tf_example``, ``transform_images``).

        Each is a concrete function, traced on its first request.
        """
        return {name: function.get_concrete_function() for name, function in self._signature_functions.items()}


def _tf_variable(variable):
    """The ``tf.Variable`` holding a Keras 3 variable's value."""
    value = variable.value  # outside an autocast scope: the tf.Variable itself, not a cast of it
    if not isinstance(value, tf.Variable):
        raise TypeError(f"variable {variable.path!r} holds a {type(value).__name__}, not a tf.Variable: "
                        f"the serving export needs TensorFlow's Keras backend")
    return value


def export_serving_model(model, tf_transform_output, class_names, export_dir):
    """Exports ``model`` behind the Transform graph as a SavedModel with the module's three signatures.

    Args:
        model: the trained classifier (:func:`trainer.models.build_classifier`).
        tf_transform_output: the ``tft.TFTransformOutput`` of the pipeline's Transform.
        class_names: the class names in label order (string (num_classes,), the ``class_name`` output).
        export_dir: where the SavedModel goes (TFX's ``serving_model_dir``; any ``tf.io.gfile`` path).

    Returns:
        ``export_dir``.

    Files written:
        The SavedModel in ``export_dir`` (``saved_model.pb``, ``variables/``, the Transform graph's
        ``assets/``), servable by TF Serving under the tag ``serve``.
    """
    module = ServingModule(model, tf_transform_output, class_names)
    tf.saved_model.save(module, export_dir, signatures=module.signatures())
    return export_dir
