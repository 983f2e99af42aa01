"""The durable job queue: enqueue, workers with leases, retries, periodic tasks, built-ins."""
