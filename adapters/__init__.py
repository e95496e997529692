"""Chat platform adapters. Each translates its platform to and from the core's types.

`adapters/registry.py` lists them; importing this package (or the registry) imports no
platform library.
"""
