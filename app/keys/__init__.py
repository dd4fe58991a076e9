"""API keys: who may call Sluice, and with which scopes."""
