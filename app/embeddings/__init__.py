"""Dataset embeddings: the offline embedding model and the vectors stored per dataset."""
