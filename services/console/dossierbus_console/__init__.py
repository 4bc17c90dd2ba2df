"""Operator console: a web page, served by the bus, over the other services' HTTP APIs and Kafka."""
