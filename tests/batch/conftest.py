"""Fixtures for batch tests: two tiny synthetic pairs, a far-away Ref, CLI helpers."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from dsdit_geo_cli.app import app
from typer.testing import CliRunner

from dsdit_geo.raster.synthetic import write_array, write_pair

FAST = ("--method", "bicubic")


@pytest.fixture(scope="session")
def scenes(tmp_path_factory) -> dict[str, str]:
    """Pairs A and B (different places, so different outputs) and `far`, a Ref that overlaps
    neither. Files are named A_lr.tif, A_ref.tif, B_lr.tif, B_ref.tif, far.tif in one folder."""
    root = tmp_path_factory.mktemp("scenes")
    paths = {"root": str(root)}
    for name, x0 in (("A", 500_000.0), ("B", 500_600.0)):
        folder = root / name
        folder.mkdir()
        lr, ref = write_pair(str(folder), x0=x0)
        paths[f"{name}_lr"] = str(root / f"{name}_lr.tif")
        paths[f"{name}_ref"] = str(root / f"{name}_ref.tif")
        os.replace(lr, paths[f"{name}_lr"])
        os.replace(ref, paths[f"{name}_ref"])
        folder.rmdir()
    paths["far"] = write_array(
        str(root / "far.tif"),
        np.ones((4, 50, 50), np.uint8),
        "EPSG:26911",
        Affine(1, 0, 600_000, 0, -1, 4_000_000),
    )
    return paths


def write_csv(path: Path, rows: list[list[str]], header: tuple[str, ...] = ("lr", "ref", "out")) -> str:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def invoke(*args, input: str | None = None):
    """Run `dsdit-geo batch ARGS` in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(app, ["batch", *map(str, args)], input=input)


def read_log(path) -> list[dict]:
    import json

    with open(path) as handle:
        return [json.loads(line) for line in handle]


def good_manifest(scenes: dict[str, str], folder: Path) -> str:
    """A manifest of the two good pairs, A (default output name) and B (named output)."""
    return write_csv(
        folder / "good.csv",
        [[scenes["A_lr"], scenes["A_ref"], ""], [scenes["B_lr"], scenes["B_ref"], "sub/B.tif"]],
    )


@pytest.fixture(scope="session")
def sequential_run(scenes, tmp_path_factory) -> dict[str, bytes]:
    """Outputs of the good manifest run sequentially: {relative path: bytes}, plus the manifest."""
    folder = tmp_path_factory.mktemp("sequential")
    manifest = good_manifest(scenes, folder)
    result = invoke(manifest, folder / "out", *FAST)
    assert result.exit_code == 0, result.output
    outputs = {"A_lr_sr.tif": (folder / "out" / "A_lr_sr.tif").read_bytes()}
    outputs["sub/B.tif"] = (folder / "out" / "sub" / "B.tif").read_bytes()
    return {"manifest": manifest, "outputs": outputs}
