"""lrbench: which learning rate, schedule and optimizer, and how sensitive is the answer."""

__version__ = "0.1.0"
