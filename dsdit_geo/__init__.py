"""dsdit-geo: reference-based super-resolution of satellite rasters with DS-DiT."""

__version__ = "0.1.0"
