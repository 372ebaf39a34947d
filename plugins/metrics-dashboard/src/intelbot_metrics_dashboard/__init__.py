"""intelbot plugin: Prometheus ``/metrics``, ``/api/summary``, ``/healthz``, a dashboard page and Discord ``/stats``."""
