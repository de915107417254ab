"""Adapters: models in, the arrays the acquisition core takes out."""
