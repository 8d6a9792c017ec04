"""Serving the pushed model with TensorFlow Serving.

``serving.models_config``  writes a TF Serving ``models.config`` for the Pusher's
                           ``<serving_dir>/<model_name>/<version>/`` layout.
``serving.client``         builds (and separately sends) gRPC ``PredictRequest``\\ s and
                           REST ``:predict`` bodies; ``predict_command`` is the CLI.

See docs/deploy.md.
"""
