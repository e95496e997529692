"""Matching papers to queries: normalised text, the /track query language, the index, full-text search."""
