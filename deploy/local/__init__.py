"""The local runtime behind ``make run`` and the test session: a real PostgreSQL server and a
real Kafka-protocol broker, both from wheels, and the supervisor of the portal's processes."""
