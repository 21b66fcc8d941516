"""Routers by audience: decisions (services), audit (auditors), admin (stewards, health)."""
