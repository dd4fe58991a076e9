"""Testing a service of one's own against a real database: the pytest plugin and its helpers."""
