"""Systems of services that `sluice up` runs together (each a small TOML file)."""
