"""Feeds: followed authors, a category, popular and trending posts."""
