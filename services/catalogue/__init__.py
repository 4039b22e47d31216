"""Procedure catalogue service: owns agencies, sectors, procedures, online services, FAQ."""
