"""Stratabase: the data backbone for content and community applications."""

__version__ = "0.1.0"
