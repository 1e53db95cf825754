"""Quantitative imaging to voxel dose (placeholder docstring, replaced below)."""
