"""MammoRead: double reading, pairwise masking sort and dataset export for mammography."""

__version__ = "0.1.0"
