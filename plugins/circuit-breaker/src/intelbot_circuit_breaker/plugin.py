"""The entry point (``[project.entry-points.intelbot] circuit_breaker``): one plugin instance per process.

The kernel registers this module; its hooks are the methods of :data:`default`.
To run several kernels in one process (tests, embedding applications), give each
its own :class:`~intelbot_circuit_breaker.hooks.CircuitBreakerPlugin` through
``Kernel.start(..., extra_plugins=[CircuitBreakerPlugin()])`` instead.
Alerts go out through ``kernel.alert`` (the kernel given to ``startup``, dropped at
``shutdown``): a front end that wants them registers a sender on ``kernel.alert_senders``
(the Discord front end does, and posts to ``trends.alert_channel_id``).
"""

from __future__ import annotations

from intelbot_circuit_breaker.hooks import CircuitBreakerPlugin

default = CircuitBreakerPlugin()
intelbot_order = default.intelbot_order

check_settings = default.check_settings
startup = default.startup
shutdown = default.shutdown
before_llm_call = default.before_llm_call
after_llm_call = default.after_llm_call
on_error = default.on_error
reachable_models = default.reachable_models
collect_stats = default.collect_stats
health_lines = default.health_lines
