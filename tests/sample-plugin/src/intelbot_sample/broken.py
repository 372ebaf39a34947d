"""A plugin that cannot be imported: the bot must start without it."""

raise RuntimeError("this plugin is broken on purpose")
