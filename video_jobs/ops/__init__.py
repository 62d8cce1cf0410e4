"""What operators watch: metric events counted in the database (``metrics``), the queue's state at a glance
(``stats``), the Prometheus exposition (``prometheus``) and the ``/metrics`` and ``/healthz`` endpoints
(``views``, ``urls``). It reads models and S3; it changes no job.
"""
