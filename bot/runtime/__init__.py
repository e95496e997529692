"""Tuning Python's runtime for a digest run: the GIL's switch interval and the cyclic collector."""
