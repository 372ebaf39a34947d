"""intelbot plugin: ``/metrics`` (Prometheus), ``/api/summary``, ``/healthz``, a dashboard page at ``/`` and Discord ``/stats``."""
