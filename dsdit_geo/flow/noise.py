"""Position-keyed Gaussian noise: a pure function of (seed, global row, global col, channel).

Each value is drawn from a counter-based hash (splitmix64 finaliser, numpy uint64 arithmetic,
which wraps mod 2^64) of the key, turned into two uniforms and one normal by Box-Muller. Tiles
that overlap therefore see identical noise where they overlap, whatever the tile size, batch
size or order, and negative / out-of-grid positions (reflect-padded halos) are fine.
"""

from __future__ import annotations

import numpy as np
import torch

_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # splitmix64 increment (golden ratio)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_ROW_SALT = np.uint64(0xD1B54A32D192ED03)
_COL_SALT = np.uint64(0x8CB92BA72F3D8DD7)
_TWO_PI = 2.0 * np.pi


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (a bijection of uint64), vectorised."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _as_u64(a: np.ndarray) -> np.ndarray:
    """int64 -> uint64, two's complement (so negative positions hash fine)."""
    return np.ascontiguousarray(a, dtype=np.int64).view(np.uint64)


def _uniform(h: np.ndarray) -> np.ndarray:
    """uint64 -> float64 uniform in (0, 1) from the top 53 bits (never 0 or 1)."""
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def position_keyed_noise(
    seed: int,
    origin_px: torch.Tensor | np.ndarray,
    shape: tuple[int, int, int],
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(B, C, H, W) float32 N(0, 1) noise keyed on (seed, global row, global col, channel).

    origin_px (B, 2) int64: global (row, col) of each tile's pixel [0, 0] (may be negative);
    shape (C, H, W) of each tile. Pixel [b, c, i, j] depends only on
    (seed, origin_px[b, 0] + i, origin_px[b, 1] + j, c).
    """
    c, h, w = (int(v) for v in shape)
    origin = np.asarray(origin_px.cpu() if isinstance(origin_px, torch.Tensor) else origin_px, dtype=np.int64)
    if origin.ndim != 2 or origin.shape[1] != 2:
        raise ValueError(f"origin_px must be (B, 2), got {origin.shape}")
    with np.errstate(over="ignore"):
        key = _mix(_as_u64(np.array([seed], dtype=np.int64)) * _GAMMA + _GAMMA)  # (1,)
        rows = _as_u64(origin[:, :1] + np.arange(h, dtype=np.int64))  # (B, H)
        cols = _as_u64(origin[:, 1:] + np.arange(w, dtype=np.int64))  # (B, W)
        row_h = _mix(key ^ (rows * _ROW_SALT))  # (B, H)
        col_h = _mix(cols * _COL_SALT + _GAMMA)  # (B, W)
        pix = _mix(row_h[:, :, None] ^ col_h[:, None, :])  # (B, H, W)
        # two counters per channel: splitmix64 stream steps from the pixel's state
        ctr = (np.arange(2 * c, dtype=np.uint64) + np.uint64(1)) * _GAMMA  # (2C,)
        bits = _mix(pix[:, None, :, :] + ctr[None, :, None, None])  # (B, 2C, H, W)
    u1, u2 = _uniform(bits[:, 0::2]), _uniform(bits[:, 1::2])
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(_TWO_PI * u2)
    return torch.from_numpy(z.astype(np.float32)).to(device or "cpu")
