"""Lineage: OpenLineage events in, a graph of jobs, runs, datasets and columns out."""
