"""Built-in tasks; each module has a ``register(registry)`` that adds its tasks."""
