"""components.schema: the curated schema for ImportSchemaGen."""

from trainer import contract


def test_curated_schema(tmp_path):
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    from components.schema import write_curated_schema

    path = write_curated_schema(str(tmp_path), ["cat", "dog", "fox"], max_side=5000)
    schema = text_format.Parse(open(path).read(), schema_pb2.Schema())
    features = {f.name: f for f in schema.feature}
    assert sorted(features) == sorted(contract.RECORD_FEATURE_KEYS)
    label = features[contract.LABEL_KEY]
    assert (label.int_domain.min, label.int_domain.max) == (0, 2)
    assert list(features[contract.LABEL_NAME_KEY].string_domain.value) == ["cat", "dog", "fox"]
    for name in (contract.IMAGE_HEIGHT_KEY, contract.IMAGE_WIDTH_KEY):
        assert (features[name].int_domain.min, features[name].int_domain.max) == (1, 5000)
    assert list(features[contract.IMAGE_FORMAT_KEY].string_domain.value) == ["jpeg", "png"]
    assert all([d.size for d in f.shape.dim] == [1] for f in schema.feature)  # dense, one value
