"""Command-line options shared by the benchmark scripts that evaluate the dev split
(`pooled_change_gap.py`, `choose_guidance.py`): scales, LR degradations, data root, JSON output."""

from __future__ import annotations

import argparse


def add_dev_eval_args(parser: argparse.ArgumentParser, degradation: str) -> None:
    """Add --scales, --degradation (default `degradation`), --data and --json to `parser`."""
    parser.add_argument("--scales", default="4,8")
    parser.add_argument("--degradation", default=degradation)
    parser.add_argument("--data", default=None, help="data root (default $DSDIT_GEO_DATA, else ../shared/data)")
    parser.add_argument("--json", default=None, help="also write the evaluation JSON here")
