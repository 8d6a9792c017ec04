"""Trains one arm with ``trainer.run.train_arm`` in a process of its own (as a Kubeflow task would).

    python -m tests.trainer.train_one_arm --examples DIR --transform DIR --out DIR --config JSON
        [--synchronized-batchnorm]

``--synchronized-batchnorm`` makes a single process compute BatchNorm moments
the way a multi-worker Trainer does (sums of x and x^2 all-reduced over the
replicas, here one), so the two can be compared to float rounding: the usual
two-pass formula differs from it enough to move a deep network's outputs by
about 0.01 within a few steps.
"""

import argparse
import json
import os
import types

from trainer.environment import apply_keras_policy

apply_keras_policy()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", required=True, help="the Examples artifact (Split-* folders)")
    parser.add_argument("--transform", required=True, help="the Transform graph artifact")
    parser.add_argument("--out", required=True)
    parser.add_argument("--config", required=True, help="the Trainer's custom_config as JSON")
    parser.add_argument("--synchronized-batchnorm", action="store_true")
    args = parser.parse_args()

    from trainer import contract, distribution, training
    from trainer.run import train_arm

    if args.synchronized_batchnorm:
        build_and_compile = training.build_and_compile

        def build_with_synchronized_batchnorm(config, placement):
            model, backbone = build_and_compile(config, placement)
            distribution.synchronize_batchnorm(model)
            return model, backbone

        training.build_and_compile = build_with_synchronized_batchnorm

    fn_args = types.SimpleNamespace(
        custom_config=json.loads(args.config),
        train_files=[os.path.join(args.examples, f"Split-{contract.TRAIN_SPLIT}", "*")],
        eval_files=[os.path.join(args.examples, f"Split-{contract.VALIDATION_SPLIT}", "*")],
        transform_output=args.transform,
        serving_model_dir=os.path.join(args.out, "model", "Format-Serving"),
        model_run_dir=os.path.join(args.out, "model_run"),
    )
    train_arm(fn_args)  # here, where the BatchNorm option above applies


if __name__ == "__main__":
    main()
