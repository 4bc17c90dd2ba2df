"""The local development stack: a Kafka-protocol broker, PostgreSQL, an SMTP sink, the four services, the
operator console and the reference agencies, on loopback, for the demo, the tests and the benchmark."""
