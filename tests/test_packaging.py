"""Packaging (issue 13 items 8, 10): typed package, rio-cogeo only for tests, the public API."""

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_rio_cogeo_is_a_test_dependency_only():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("rio-cogeo") for d in project["dependencies"])
    assert any(d.startswith("rio-cogeo") for d in project["optional-dependencies"]["test"])
    for folder in ("dsdit_geo", "cli"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else [])  # fmt: skip
                assert not any(n.startswith("rio_cogeo") for n in names), path


def test_py_typed_is_shipped():
    assert (ROOT / "dsdit_geo" / "py.typed").is_file()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["dsdit_geo"]


def test_public_api_is_light_until_used():
    code = (
        "import sys, dsdit_geo; assert 'torch' not in sys.modules; "
        "from dsdit_geo import UpscaleOptions; assert UpscaleOptions(method='hpf').method == 'hpf'; "
        "assert 'torch' not in sys.modules; from dsdit_geo import upscale_file; "
        "import inspect; p = inspect.signature(upscale_file).parameters; "
        "assert p['options'].default is None"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
