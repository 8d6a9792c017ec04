"""trainer.preprocessing: the Transform module's preprocessing_fn."""

import tensorflow as tf

from components.synthetic_examples import encode
from tests.trainer.helpers import gradient
from trainer import contract
from trainer.config import TrainingConfig
from trainer.preprocessing import preprocessing_fn


def test_preprocessing_fn_outputs_image_and_label():
    config = TrainingConfig(image_size=(64, 64), target_size=(32, 32))
    inputs = {
        contract.IMAGE_KEY: tf.constant([[encode(gradient(20, 30))], [encode(gradient(40, 10), "png")]]),
        contract.LABEL_KEY: tf.constant([[1], [0]], tf.int64),
    }
    out = preprocessing_fn(inputs, config.to_custom_config())
    assert out[contract.TRANSFORMED_IMAGE_KEY].shape == (2, 64, 64, 3)
    assert out[contract.TRANSFORMED_LABEL_KEY].numpy().tolist() == [1, 0]
    # Serving has no label: only the image comes out.
    served = preprocessing_fn({contract.IMAGE_KEY: inputs[contract.IMAGE_KEY]}, config.to_custom_config())
    assert set(served) == {contract.TRANSFORMED_IMAGE_KEY}


def test_preprocessing_fn_reads_its_configuration():
    config = TrainingConfig(image_size=(48, 40), target_size=(32, 32), resize_mode="pad")
    out = preprocessing_fn({contract.IMAGE_KEY: tf.constant([[encode(gradient(10, 80), "png")]])},
                           config.to_custom_config("fingerprint"))
    assert out[contract.TRANSFORMED_IMAGE_KEY].shape == (1, 48, 40, 3)
    # pad: the wide image keeps its aspect ratio, black bands above and below.
    assert float(tf.reduce_max(out[contract.TRANSFORMED_IMAGE_KEY][0, 0])) == 0.0


def test_dense_1d_flattens_dense_and_sparse_features():
    from trainer.preprocessing import dense_1d

    assert dense_1d(tf.constant([[3], [4]], tf.int64)).numpy().tolist() == [3, 4]
    sparse = tf.SparseTensor(indices=[[0, 0], [1, 0]], values=[b"a", b"b"], dense_shape=[2, 1])
    flat = dense_1d(sparse)
    assert flat.shape == (2,) and flat.numpy().tolist() == [b"a", b"b"]
