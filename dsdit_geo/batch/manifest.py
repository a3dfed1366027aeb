"""Batch manifests: what to upscale, as a list of `BatchItem`s, checked before any work.

MANIFEST is one of
- a CSV file with a header row naming the columns `lr`, `ref` and optionally `out` (any order,
  case-insensitive; blank lines and lines starting with '#' are skipped). Relative `lr` / `ref`
  paths are relative to the CSV's folder; GDAL paths (`/vsizip/...`, `/vsicurl/...`) are allowed
  and archives inside `/vsizip/`-style paths resolve the same way. `out` is relative to OUTDIR
  (subfolders allowed); empty or missing: `<lr stem>_sr.tif`;
- `-`: the same CSV read from standard input (relative paths against the working directory);
- a pairing rule `'LR_GLOB => REF_TEMPLATE [=> OUT_TEMPLATE]'` (see `pairing.py`).

Any problem (unreadable file, bad header, empty cell, output leaving OUTDIR, two items writing
the same output) raises a one-line ManifestError naming the line.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace

from dsdit_geo.batch.paths import check_unique_outputs, input_stem, resolve_input, resolve_output
from dsdit_geo.errors import ManifestError

COLUMNS = ("lr", "ref", "out")
DEFAULT_OUT_TEMPLATE = "{stem}_sr.tif"


@dataclass(frozen=True)
class BatchItem:
    """One pair to upscale. Paths are absolute (or GDAL paths); `where` locates the item in the
    manifest for messages; `problem` is a pairing failure found up front (the item then fails
    without running); `trust_map` is the item's trust-map path when one is asked for."""

    index: int
    lr: str
    ref: str
    out: str
    where: str
    trust_map: str | None = None
    problem: str | None = None

    def to_dict(self) -> dict:
        """Plain values only: what travels to pool and cluster workers."""
        return {
            "index": self.index,
            "lr": self.lr,
            "ref": self.ref,
            "out": self.out,
            "trust_map": self.trust_map,
            "problem": self.problem,
        }


def load_manifest(spec: str, outdir: str, trust_template: str | None = None) -> list[BatchItem]:
    """The items of MANIFEST `spec` (CSV path, '-' for stdin, or a pairing rule) with outputs
    under `outdir`, plus trust-map paths when `trust_template` is given (see `with_trust_maps`)."""
    from dsdit_geo.batch.pairing import RULE_SEPARATOR, expand_rule, parse_rule

    if RULE_SEPARATOR in spec:
        items = expand_rule(parse_rule(spec), outdir)
    elif spec == "-":
        items = read_csv(sys.stdin.read(), os.getcwd(), outdir, "stdin")
    else:
        items = read_csv(_read_text(spec), os.path.dirname(os.path.abspath(spec)), outdir, spec)
    if trust_template is not None:
        items = with_trust_maps(items, trust_template)
    return items


def _read_text(path: str) -> str:
    if os.path.isdir(path):
        raise ManifestError(
            f"manifest {path} is a folder: give a CSV file or a pairing rule 'LR_GLOB => REF'"
        )
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        raise ManifestError(
            f"manifest not found: {path} (a CSV file, '-' for stdin, or a pairing rule 'LR_GLOB => REF')"
        ) from None
    except UnicodeDecodeError:
        raise ManifestError(
            f"manifest {path} is not UTF-8 text (expected a CSV with header lr,ref[,out])"
        ) from None
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc.strerror or exc}") from None


def read_csv(text: str, base: str, outdir: str, name: str) -> list[BatchItem]:
    """Parse CSV `text` (header lr,ref[,out]); relative inputs against `base`, outputs under
    `outdir`; `name` labels messages."""
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True, strict=True)
    header: list[str] | None = None
    items: list[BatchItem] = []
    try:
        for row in reader:
            cells = [cell.strip() for cell in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            where = f"{name} line {reader.line_num}"
            if header is None:
                header = _parse_header(cells, where)
                continue
            items.append(_item_from_row(len(items), header, cells, base, outdir, where))
    except csv.Error as exc:
        raise ManifestError(f"{name} line {reader.line_num}: malformed CSV ({exc})") from None
    if header is None:
        raise ManifestError(f"{name} is empty: expected a header row lr,ref[,out] and one row per pair")
    if not items:
        raise ManifestError(f"{name} lists no pairs (only the header)")
    check_unique_outputs([(item.out, item.where) for item in items])
    return items


def _parse_header(cells: list[str], where: str) -> list[str]:
    header = [cell.lower() for cell in cells]
    unknown = [cell for cell in header if cell not in COLUMNS]
    if unknown:
        raise ManifestError(
            f"{where}: unknown column {unknown[0]!r}: the header must name lr,ref and optionally out"
        )
    for column in set(header):
        if header.count(column) > 1:
            raise ManifestError(f"{where}: column {column!r} appears twice in the header")
    for required in ("lr", "ref"):
        if required not in header:
            raise ManifestError(f"{where}: the header has no {required!r} column (expected lr,ref[,out])")
    return header


def _item_from_row(
    index: int, header: list[str], cells: list[str], base: str, outdir: str, where: str
) -> BatchItem:
    if len(cells) > len(header):
        raise ManifestError(f"{where}: {len(cells)} fields but the header names {len(header)}")
    values = dict(zip(header, cells + [""] * (len(header) - len(cells))))
    for column in ("lr", "ref"):
        if not values[column]:
            raise ManifestError(f"{where}: the {column!r} cell is empty")
    lr = resolve_input(values["lr"], base)
    ref = resolve_input(values["ref"], base)
    out_name = values.get("out") or DEFAULT_OUT_TEMPLATE.format(stem=input_stem(lr))
    return BatchItem(index, lr, ref, resolve_output(out_name, outdir, where), where)


def with_trust_maps(items: Iterable[BatchItem], template: str) -> list[BatchItem]:
    """Give each item a trust map at `template` formatted with {stem} = the output file's stem,
    relative to the output's folder (e.g. '{stem}_trust.tif'). ManifestError when the template
    has no {stem} or a trust map would collide with an output or another trust map."""
    if "{stem}" not in template:
        raise ManifestError(
            f"--trust-map {template!r}: in a batch it is a name template with {{stem}} "
            "(the output's stem), e.g. '{stem}_trust.tif'"
        )
    result = []
    for item in items:
        folder = os.path.dirname(item.out)
        stem = os.path.splitext(os.path.basename(item.out))[0]
        path = resolve_output(template.replace("{stem}", stem), folder, f"{item.where} (--trust-map)")
        result.append(replace(item, trust_map=path))
    check_unique_outputs(
        [(item.out, item.where) for item in result]
        + [(item.trust_map, f"{item.where} (trust map)") for item in result if item.trust_map]
    )
    return result
