"""Background jobs (embedding the catalog, fitting the topic model) and their progress page."""
