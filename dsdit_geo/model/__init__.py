"""DS-DiT model: the decoupled siamese diffusion transformer, its presets and SD3 init.

    from dsdit_geo.model import build_model, DSDiTTransformer
    model = build_model("small", seed=0)            # or DSDiTTransformer.from_pretrained(dir)
    out = model(x_t, lr, ref, sigma, scale=scale, ref_scale=1.0, return_trust=True)
"""

from dsdit_geo.model.presets import PRESETS, build_model, forward_flops, preset_config
from dsdit_geo.model.transformer import DSDiTOutput, DSDiTTransformer, count_parameters

__all__ = [
    "PRESETS",
    "DSDiTOutput",
    "DSDiTTransformer",
    "build_model",
    "count_parameters",
    "forward_flops",
    "preset_config",
]
