"""Kafka as a transport for public streams: publish a stream to a topic, consume a topic."""
