"""Options of one upscale run, as the CLI and the batch runner pass them to the pipeline."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class UpscaleOptions:
    """Everything `upscale_file` needs besides the three paths.

    Sizes are HR-grid pixels; resolution is in target-CRS units per pixel; bands are 1-based.
    None means "the method's / the data's default".
    """

    method: str = "dsdit"
    resolution: float | None = None  # default: the Ref's pixel size (in the target CRS)
    crs: str | None = None  # default: the Ref's CRS
    extent: tuple[float, float, float, float] | None = None  # (left, bottom, right, top), target CRS
    lr_bands: list[int] | None = None
    ref_bands: list[int] | None = None
    tile_px: int | None = None
    overlap_px: int | None = None
    batch_size: int = 4
    seed: int = 0
    overwrite: bool = False
    quiet: bool = False
    progress: bool | None = None  # None: a bar on stderr when it is a terminal and not quiet
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # DS-DiT (method "dsdit")
    weights: str | None = None  # a save_pretrained folder; default: the bundled model
    steps: int | None = None
    guidance: float | None = None
    ref_scale_weak: float | None = None  # None: the model folder's inference.json, else 0
    guide: str | None = None  # autoguidance weak model: a folder or "self"; None: inference.json
    trust_map: str | None = None  # also write the blended alpha_ref (float32 COG) here
    # Output encoding
    compress: str = "deflate"  # deflate | zstd | lzw
    extra: dict[str, str] = field(default_factory=dict)  # free-form tags (e.g. batch item id)

    def to_tags(self) -> dict[str, str]:
        """String tags recording the options (for provenance)."""
        tags = {}
        for key, value in asdict(self).items():
            if key in {"quiet", "progress", "overwrite", "extra"} or value is None:
                continue
            tags[f"option_{key}"] = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        return tags


@dataclass
class UpscaleReport:
    """What one run produced. Sizes in HR pixels; seconds of wall time."""

    out_path: str
    width: int
    height: int
    bands: int
    method: str
    seconds: float
    trust_map_path: str | None = None

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6
