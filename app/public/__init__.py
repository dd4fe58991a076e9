"""Public streams: what a service offers other services to read (the producer side)."""
