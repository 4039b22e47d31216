"""Online payment of fees service: owns payment orders, provider transactions, callbacks, reconciliation."""
