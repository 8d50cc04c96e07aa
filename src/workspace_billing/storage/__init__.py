"""Store adapters: ``memory`` (in-process, for tests and demos); SQL comes as an extra."""
