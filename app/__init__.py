"""Sluice: event-driven microservices on plain PostgreSQL."""
