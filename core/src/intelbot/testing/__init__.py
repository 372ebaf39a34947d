"""The test kit for intelbot and its plugins: kernels, loopback LLM servers, loopback Discord.

Nothing here imports pytest, so benchmarks and scripts use it too. The pytest fixtures
over it (``make_kernel``, ``openai_server``, ``anthropic_server``, the Discord ones) are
the ``intelbot-testing`` distribution, which pytest loads on its own once installed.
"""
