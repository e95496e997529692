"""Slash-command handlers: plain async functions, a request in and a reply out; `dispatch` routes them."""
