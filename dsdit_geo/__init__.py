"""dsdit-geo: reference-based super-resolution of satellite rasters with DS-DiT.

    from dsdit_geo import upscale_file, UpscaleOptions
    upscale_file("lr.tif", "ref.tif", "out.tif", method="hpf", resolution=1.0)

    from dsdit_geo import Engine                 # many files, the model loaded once
    engine = Engine(steps=4)
    engine.upscale_file("a_lr.tif", "a_ref.tif", "a_sr.tif")

    from dsdit_geo import upscale_dataarray      # xarray in, xarray out (the [xarray] extra)

Every name is imported on first use, so `import dsdit_geo` stays light (no torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Engine", "UpscaleOptions", "UpscaleReport", "upscale_dataarray", "upscale_file", "__version__"]

if TYPE_CHECKING:
    from dsdit_geo.config import UpscaleOptions, UpscaleReport
    from dsdit_geo.dataarray import upscale_dataarray
    from dsdit_geo.engine import Engine
    from dsdit_geo.pipeline import upscale_file


def __getattr__(name: str) -> Any:
    if name in ("UpscaleOptions", "UpscaleReport"):
        from dsdit_geo import config

        return getattr(config, name)
    if name == "upscale_file":
        from dsdit_geo.pipeline import upscale_file

        return upscale_file
    if name == "Engine":
        from dsdit_geo.engine import Engine

        return Engine
    if name == "upscale_dataarray":
        from dsdit_geo.dataarray import upscale_dataarray

        return upscale_dataarray
    raise AttributeError(f"module 'dsdit_geo' has no attribute {name!r}")
