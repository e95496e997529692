"""paperbot: arXiv paper alerts for Discord, Slack and the terminal."""

__version__ = "0.1.0"
