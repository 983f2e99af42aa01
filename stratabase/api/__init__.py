"""The versioned HTTP API."""

from stratabase.api.app import create_app

__all__ = ["create_app"]
