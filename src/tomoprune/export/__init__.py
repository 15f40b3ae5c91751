"""Exports of a (compressed) model for deployment outside tomoprune."""
