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
    class_name: str
    class_id: int
    probability: float
    probabilities: list[float]


def to_predictions(rows, class_ids, class_names) -> list[Prediction]:
    out = []
    for probs, cid, name in zip(rows, class_ids, class_names):
        probs = [float(p) for p in probs]
        out.append(Prediction(str(name), int(cid), probs[int(cid)], probs))
    return out
