"""Ministry and province status sync service: owns agency systems, inbound batches, outbound deliveries."""
