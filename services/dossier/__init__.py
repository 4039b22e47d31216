"""Dossier intake and tracking service: owns dossiers, attachments, status history, receipts, ratings."""
