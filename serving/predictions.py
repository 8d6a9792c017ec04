"""What the served model answers, whichever API carried it."""

import dataclasses


class ServingError(RuntimeError):
    """The server refused or failed the request; ``code`` is the gRPC status name or HTTP status."""

    def __init__(self, code, message):
        super().__init__(f"server error {code}: {message}")
        self.code = code
        self.message = message


@dataclasses.dataclass
class Prediction:
    """The served model's answer for one image.

    Attributes:
        class_name: the predicted class's name (``class_name`` output).
        class_id: its label index (``class_id`` output).
        probability: its probability, in [0, 1].
        probabilities: every class's probability in label order (``probabilities`` output), summing to 1.
    """

    class_name: str
    class_id: int
    probability: float
    probabilities: list[float]


def to_predictions(rows, class_ids, class_names) -> list[Prediction]:
    """One :class:`Prediction` per image from the three outputs, as any API carries them.

    Args:
        rows: ``probabilities``, (B, K) numbers.
        class_ids: ``class_id``, (B,) integers.
        class_names: ``class_name``, (B,) strings.

    Returns:
        B predictions, in order.
    """
    out = []
    for probs, cid, name in zip(rows, class_ids, class_names):
        probs = [float(p) for p in probs]
        out.append(Prediction(str(name), int(cid), probs[int(cid)], probs))
    return out
