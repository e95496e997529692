"""When things run: the APScheduler wrapper, the job policy, and each channel's effective schedule."""
