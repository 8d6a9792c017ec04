"""components.labels: label_names.txt beside the examples."""

import pytest

from components import read_label_names
from trainer import contract


def test_read_label_names_missing(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_label_names(str(tmp_path))
    (tmp_path / contract.LABEL_NAMES_FILE).write_text("cat\ndog\n")
    assert read_label_names(str(tmp_path)) == ["cat", "dog"]
