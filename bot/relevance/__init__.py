"""Relevance beyond keywords: `like:` topics (tf-idf) and a per-channel model learned from reactions."""
