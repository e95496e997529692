"""arXiv: ids, the announcement calendar, the taxonomy, the polite client, feeds, the harvest, lookups."""
