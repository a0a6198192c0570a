"""Resuming an interrupted converted folder from its progress record ``manifest.json``.

A writer rewrites the manifest after each complete data file (``complete: false``, the files
written, the input events consumed); a resumed writer checks that it writes with the same
parameters, removes partial files of the interrupted run and continues after the last complete
data file.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Mapping, Optional

import pyarrow.parquet as pq

from .format import FEATURE_INDICES_FILE, FILELIST_CSV, FILELIST_PQ, INDEX_FILE, MANIFEST_FILE

logger = logging.getLogger(__name__)


def resume_manifest(out_dir: str, params: Mapping, resume: bool) -> Optional[dict]:
    """The manifest of the interrupted (or complete) folder ``out_dir`` to continue; None when
    the folder is empty.

    ``params``: the writer's parameters, which must equal those stored in the manifest.
    Raises ``FileExistsError`` for a non-empty folder without ``resume``, a folder without a
    manifest, other parameters, or a listed data file that is missing or of the wrong size.
    Files of the interrupted run that the manifest does not list are removed.
    """
    mpath = os.path.join(out_dir, MANIFEST_FILE)
    existing = [n for n in os.listdir(out_dir) if not n.startswith(".")]
    if not existing:
        return None
    if not resume:
        raise FileExistsError(
            f"{out_dir} is not empty ({len(existing)} entries); pass resume=True "
            "(--resume) to continue an interrupted folder, or choose an empty folder"
        )
    if not os.path.exists(mpath):
        raise FileExistsError(
            f"{out_dir}: cannot resume, no {MANIFEST_FILE} (not a folder this package wrote)"
        )
    with open(mpath) as fh:
        man = json.load(fh)
    mine = json.loads(json.dumps(dict(params)))
    theirs = {k: man.get(k) for k in mine}
    if theirs != mine:
        diff = sorted(k for k in mine if theirs[k] != mine[k])
        raise FileExistsError(
            f"{out_dir}: cannot resume, the folder was written with different {diff}"
        )
    keep = {f["name"] for f in man["files"]} | {MANIFEST_FILE}
    if man.get("complete"):
        keep |= {INDEX_FILE, FILELIST_PQ, FILELIST_CSV, FEATURE_INDICES_FILE}
    for name in os.listdir(out_dir):
        if name not in keep and (name.endswith(".pq") or name.endswith(".tmp")):
            logger.warning("%s: removing %s left by an interrupted run", out_dir, name)
            os.remove(os.path.join(out_dir, name))
    for f in man["files"]:
        path = os.path.join(out_dir, f["name"])
        if not os.path.exists(path) or pq.ParquetFile(path).metadata.num_rows != f["n_events"]:
            raise FileExistsError(
                f"{path}: listed as complete in {MANIFEST_FILE} but missing "
                "or of the wrong size; remove the folder and start again"
            )
    logger.info(
        "%s: resuming after %d data file(s), %d input event(s)",
        out_dir,
        len(man["files"]),
        int(man["n_input_events"]),
    )
    return man
