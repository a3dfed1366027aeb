"""Batch runs over many scene pairs (`dsdit-geo batch MANIFEST OUTDIR`).

manifest.py / pairing.py / paths.py  MANIFEST (CSV or pairing rule) -> BatchItems, checked up front
completeness.py / tiff_layout.py     is an output already complete (skip) or not (redo)
task.py                              one item, plain values in and out: the unit of distribution
placement.py                         GPU and torch-thread choice per worker
engines.py                           sequential, local spawn pool (--workers), Dask (--scheduler)
runner.py                            run_batch: lock + clean OUTDIR, dispatch, log, summary
log.py                               JSON-lines log, BatchSummary
"""

from dsdit_geo.batch.log import BatchSummary
from dsdit_geo.batch.manifest import BatchItem, load_manifest
from dsdit_geo.batch.runner import run_batch

__all__ = ["BatchItem", "BatchSummary", "load_manifest", "run_batch"]
