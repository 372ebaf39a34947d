"""The Discord front end (hikari + hikari-lightbulb): ``run_discord(kernel)`` in :mod:`.bot`."""
