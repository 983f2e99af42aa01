"""Full-text search over posts and users: index maintenance, query parsing, ranked results."""
