"""Hugging Face's daily papers: the list read once a day, for /trending and the digests' section."""
