"""Keeps a searchable index in step with an agency's published web pages."""
