"""README stays true to the CLI: every --option it names exists; the Python example's API exists."""

import re
from pathlib import Path

import typer
from dsdit_geo_cli.app import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
NOT_OURS = {"--no-deps", "--nproc-per-node"}  # pip's and torchrun's


def test_every_option_in_the_readme_exists():
    root = typer.main.get_command(app)
    known = {"--version", "--help"}
    for command in root.commands.values():
        for param in command.params:
            known.update(o for o in [*param.opts, *param.secondary_opts] if o.startswith("--"))
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", README)) - NOT_OURS
    assert named - known == set()


def test_python_section_and_what_to_expect():
    assert "## Python" in README and "from dsdit_geo import upscale_file, UpscaleOptions" in README
    assert "What to expect" in README
    from dsdit_geo import UpscaleOptions

    for field in re.findall(r"UpscaleOptions\(([^)]*)\)", README)[0].split(","):
        assert field.split("=")[0].strip() in UpscaleOptions.__dataclass_fields__
