"""Subscriptions: this service reading other services' public streams (the consumer side)."""
