"""PII detection (Presidio, offline), column classification and pseudonymization."""
