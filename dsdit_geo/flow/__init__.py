"""Rectified flow for DS-DiT: path and loss, target parameterisation, Euler sampler with
autoguidance, and position-keyed noise."""

from dsdit_geo.flow.noise import position_keyed_noise
from dsdit_geo.flow.parameterization import (
    Parameterization,
    decode_target,
    encode_target,
    from_network,
    to_network,
)
from dsdit_geo.flow.path import (
    add_noise,
    flow_matching_loss,
    predict_x0,
    sample_sigma,
    shift_sigma,
    velocity_target,
)
from dsdit_geo.flow.sampler import SampleResult, flow_sigmas, make_velocity_fn, sample_euler

__all__ = [
    "Parameterization",
    "SampleResult",
    "add_noise",
    "decode_target",
    "encode_target",
    "flow_matching_loss",
    "flow_sigmas",
    "from_network",
    "make_velocity_fn",
    "position_keyed_noise",
    "predict_x0",
    "sample_euler",
    "sample_sigma",
    "shift_sigma",
    "to_network",
    "velocity_target",
]
