"""The front ends: the ways people reach a kernel.

- :mod:`.cli`: the ``intelbot`` command (``ask``, ``chat``, ``run``, ``config``, ``plugins``, ``stats``
  and the commands plugins add);
- :mod:`.console`: the console chat ``intelbot chat`` and ``intelbot run`` without a token;
- :mod:`.discord`: the Discord bot (gateway or interaction server) and its slash commands;
- :mod:`.footer`: the line under every answer (model, source, tokens, cost, latency).

Each goes through ``Kernel.ask``; the kernel imports none of them (``intelbot config check``
reads the Discord settings model, :mod:`.discord.config`, to validate that table).
"""
