"""The test kit for intelbot and its plugins.

Installed with the ``testing`` extra; pytest loads :mod:`intelbot.testing.pytest_plugin`
on its own (entry point ``pytest11``), which gives every test the fixtures
``make_kernel``, ``openai_server`` and ``anthropic_server`` and the Discord ones.
"""
