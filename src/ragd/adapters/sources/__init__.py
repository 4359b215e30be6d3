"""Readers of sources (S3-compatible buckets, web sites, server folders) and the box their
secrets are sealed in; ``ragd.services.container`` builds them."""
