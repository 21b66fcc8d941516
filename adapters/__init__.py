"""Policy enforcement points for data sources and AI pipelines."""
