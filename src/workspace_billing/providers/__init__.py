"""Payment provider adapters: ``fake`` (deterministic, in-memory); Stripe comes as an extra."""
