"""The pytest plugin of intelbot's test kit: fixtures over :mod:`intelbot.testing` (see :mod:`.plugin`)."""
