"""``zoo serve``: artifacts behind HTTP (FastAPI + uvicorn), with dynamic batching, versions and metrics.

- :mod:`~flexzoo.serving.batcher`: merges concurrent requests for one model version into batches.
- :mod:`~flexzoo.serving.models`: the served models, their versions, checked reload and rollback.
- :mod:`~flexzoo.serving.metrics`: Prometheus metrics.
- :mod:`~flexzoo.serving.schema`: the OpenAPI document: every route, body, content type and status.
- :mod:`~flexzoo.serving.requests`: reading bodies: size limit, JSON of any depth, images by their bytes.
- :mod:`~flexzoo.serving.inference`: one prediction, shared by both protocols (batcher, versions, metrics).
- :mod:`~flexzoo.serving.app`: the ``/v1`` routes, health, metrics and the errors.
- :mod:`~flexzoo.serving.oip`, :mod:`~flexzoo.serving.tensors`: the Open Inference Protocol (v2 REST).
- :mod:`~flexzoo.serving.admin`, :mod:`~flexzoo.serving.security`: ``/admin`` and who may use it.
- :mod:`~flexzoo.serving.server`: the process: uvicorn, signals (SIGTERM drains), directory watching.
- :mod:`~flexzoo.serving.dockerfile`: a Dockerfile that installs the plugin versions an artifact records.

FastAPI + uvicorn rather than LitServe, measured by ``bench/compare_serving_libraries.py`` (numbers in the
README's Deploy section): on the same artifact and client this server had 2.7x LitServe's throughput at
concurrency 1 and 4x at 32; and versions, reload, rollback and an admin endpoint are simple in one
process, where LitServe fixes its APIs at start-up in separate worker processes.
"""
