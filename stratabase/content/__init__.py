"""Posts, comments, likes and views: use cases (service) and batch-loading reads (queries)."""
