r"""Serving the pushed model with TensorFlow Serving.

``serving.models_config``  writes a TF Serving ``models.config`` for the Pusher's
                           ``<serving_dir>/<model_name>/<version>/`` layout.
``serving.client``         builds (and separately sends) gRPC ``PredictRequest``\\ s and
                           REST ``:predict`` bodies; ``predict_command`` is the CLI.  It gathers
``serving.images``         local checks of the image files before anything is sent,
``serving.grpc_api``       the gRPC API (port 8500),
``serving.rest_api``       the REST API (port 8501),
``serving.predictions``    and what either answers.

``serving.infer_command``  ``pipeline_runner.py infer``: batch inference on Beam
``serving.batch_inference``  (RunInference with ``serving.saved_model_handler``).

See docs/deploy.md.
"""
