"""Path rules shared by the manifest readers: input resolution, output names, GDAL paths.

Inputs may be local files or GDAL paths. Local relative paths are made absolute against a base
folder (the CSV's folder, or the working directory for a pairing rule) so that pool and cluster
workers, whose working directory differs, open the same files. Archive paths (`/vsizip/x.zip/a.tif`,
`/vsitar/`, `/vsigzip/`, ...) get the same treatment for the archive inside them; network and
other GDAL paths (`/vsicurl/https://...`, `s3://...`, `NETCDF:...`) pass through untouched and
are never checked for existence here: they fail when opened, as one item's error.
"""

from __future__ import annotations

import os
import re

from dsdit_geo.errors import ManifestError

# GDAL handlers whose argument is a (possibly relative) path of an archive on some filesystem.
ARCHIVE_PREFIXES = ("/vsizip/", "/vsitar/", "/vsigzip/", "/vsi7z/", "/vsirar/", "/vsisubfile/")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_GDAL_CONNECTION = re.compile(r"^[A-Za-z][A-Za-z0-9_]+:")  # NETCDF:..., HDF5:..., GPKG:...
_UNSAFE_NAME = re.compile(r'[\x00-\x1f/\\:*?"<>|{}]+')
_STRIPPED_EXTENSIONS = (".tif", ".tiff", ".gz", ".zip", ".jp2", ".vrt", ".img", ".nc", ".safe", ".json")


def is_gdal_path(path: str) -> bool:
    """True for GDAL virtual paths, URLs and DRIVER:... connection strings."""
    return path.startswith("/vsi") or bool(_URL.match(path)) or bool(_GDAL_CONNECTION.match(path))


def resolve_input(path: str, base: str) -> str:
    """`path` as a worker should open it: local paths absolute against `base` (and `~` expanded),
    the archive inside /vsizip/-style paths likewise, every other GDAL path unchanged."""
    path = path.strip()
    for prefix in ARCHIVE_PREFIXES:
        if path.startswith(prefix):
            return prefix + _resolve_archive_argument(path[len(prefix) :], base)
    if is_gdal_path(path) and not os.path.exists(os.path.join(base, path)):
        return path
    return os.path.abspath(os.path.join(base, os.path.expanduser(path)))


def _resolve_archive_argument(rest: str, base: str) -> str:
    """The part after '/vsizip/': '{archive}/inner', '/abs/archive.zip/inner', or relative."""
    if rest.startswith("{"):
        end = rest.find("}")
        if end < 0:
            return rest
        inner = rest[1:end]
        if is_gdal_path(inner) or os.path.isabs(inner):
            return rest
        return "{" + os.path.abspath(os.path.join(base, os.path.expanduser(inner))) + "}" + rest[end + 1 :]
    if rest.startswith("/") or is_gdal_path(rest):
        return rest  # '/vsizip//abs/a.zip/x.tif' is absolute; chained '/vsizip//vsicurl/...' too
    return os.path.abspath(os.path.join(base, os.path.expanduser(rest)))


def input_stem(path: str) -> str:
    """A file-name-safe stem of an input path: the last component, without query string or
    raster / archive extensions ('/vsicurl/https://h/a/T11_S2.tif?sig=1' -> 'T11_S2')."""
    text = path.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    name = text.rsplit("/", 1)[-1]
    for _ in range(2):  # 'x.tif.gz' -> 'x'
        root, ext = os.path.splitext(name)
        if ext.lower() not in _STRIPPED_EXTENSIONS or not root:
            break
        name = root
    name = _UNSAFE_NAME.sub("_", name).strip(" .")
    return name or "scene"


def resolve_output(name: str, outdir: str, where: str) -> str:
    """OUTDIR/name as an absolute path; ManifestError when `name` is absolute, a GDAL path, or
    leaves OUTDIR, also through a symbolic link (`where` names the manifest line for the message)."""
    name = name.strip()
    if not name:
        raise ManifestError(f"{where}: the output name is empty")
    if os.path.isabs(name) or name.startswith("~") or is_gdal_path(name):
        raise ManifestError(f"{where}: the output {name!r} must be a path relative to OUTDIR")
    outdir = os.path.abspath(outdir)
    path = os.path.normpath(os.path.join(outdir, name))
    if os.path.commonpath([outdir, path]) != outdir or path == outdir:
        raise ManifestError(f"{where}: the output {name!r} leaves OUTDIR")
    real_outdir, real_path = os.path.realpath(outdir), os.path.realpath(path)  # symlinks resolved
    if os.path.commonpath([real_outdir, real_path]) != real_outdir or real_path == real_outdir:
        raise ManifestError(f"{where}: the output {name!r} leaves OUTDIR through a symbolic link")
    if os.path.basename(path).startswith("."):
        raise ManifestError(f"{where}: the output {name!r} is a hidden name (reserved for temporary files)")
    return path


def check_unique_outputs(outputs: list[tuple[str, str]]) -> None:
    """ManifestError when two items write the same file. `outputs`: (path, where) pairs."""
    seen: dict[str, str] = {}
    for path, where in outputs:
        key = os.path.normcase(os.path.normpath(path))
        if key in seen:
            raise ManifestError(f"{where} and {seen[key]} both write {path}: give them distinct output names")
        seen[key] = where
