"""Model providers: the interface and the built-in adapters (echo, OpenAI, Anthropic)."""
