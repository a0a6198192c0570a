"""A converted folder as a whole: its data files in ``file_index`` order, ``feature_indices.yaml``,
``manifest.json`` and (read on demand) its index."""

from __future__ import annotations

import json
import os
from typing import Optional, Sequence, Union

import numpy as np
import pyarrow.parquet as pq

from ...core.yaml_file import read_yaml
from .format import (
    FEATURE_INDICES_FILE,
    FILELIST_PQ,
    INDEX_FILE,
    MANIFEST_FILE,
    DatasetFormatError,
    feature_dim,
    is_data_file,
)
from .index import IndexByFile, read_index


def load_feature_indices(path: str) -> dict:
    """``feature_indices.yaml`` -> ``{group: int | list[int]}`` in file order."""
    fi = read_yaml(path, "feature indices file")
    if not isinstance(fi, dict) or not fi:
        raise DatasetFormatError(f"{path}: expected a mapping group -> column indices")
    return fi


class ConvertedFolder:
    """A converted folder: its data files (in ``file_index`` order), index, features, manifest.

    ``files`` come from ``filelist.pq`` (names resolved inside the folder, since older lists hold
    absolute paths from the machine that wrote them), or sorted data files when it is absent.
    """

    def __init__(self, path: str) -> None:
        if not os.path.isdir(path):
            raise FileNotFoundError(f"converted folder not found: {path}")
        self.path = path
        self.manifest = self._read_manifest()
        self.feature_indices = load_feature_indices(os.path.join(path, FEATURE_INDICES_FILE))
        self.files = self._list_files()
        self._index: Optional[dict] = None
        self._positions: Optional[dict] = None
        self._by_file: Optional[IndexByFile] = None

    def _read_manifest(self) -> dict:
        p = os.path.join(self.path, MANIFEST_FILE)
        if not os.path.exists(p):
            return {}
        with open(p) as fh:
            return json.load(fh)

    def _list_files(self) -> list[str]:
        p = os.path.join(self.path, FILELIST_PQ)
        if os.path.exists(p):
            names = pq.read_table(p, columns=["filename"]).column("filename").to_pylist()
            files = [os.path.join(self.path, os.path.basename(n)) for n in names]
        else:
            files = sorted(
                os.path.join(self.path, n) for n in os.listdir(self.path) if is_data_file(n)
            )
        if not files:
            raise DatasetFormatError(f"{self.path}: no data files")
        return files

    @property
    def dim(self) -> int:
        """Feature columns ``D`` (from the manifest, else from ``feature_indices.yaml``)."""
        return int(self.manifest.get("dim") or feature_dim(self.feature_indices))

    @property
    def labeled(self) -> Optional[bool]:
        """From the manifest; None for folders without one."""
        return self.manifest.get("labeled")

    @property
    def index(self) -> dict:
        """``indexfile.pq`` as numpy columns (read once)."""
        if self._index is None:
            self._index = read_index(os.path.join(self.path, INDEX_FILE))
        return self._index

    def has_index(self) -> bool:
        """Whether the folder has an ``indexfile.pq``."""
        return os.path.exists(os.path.join(self.path, INDEX_FILE))

    def file_index_of(self, path: str) -> int:
        """``file_index`` of data file ``path`` (matched by name) in this folder's file list."""
        if self._positions is None:
            self._positions = {os.path.basename(f): i for i, f in enumerate(self.files)}
        i = self._positions.get(os.path.basename(path))
        if i is None:
            raise DatasetFormatError(f"{path}: not listed in the filelist of {self.path}")
        return i

    def expected_ids(self, path: str) -> Optional[tuple[np.ndarray, np.ndarray]]:
        """``(run_id, event_id)`` that ``indexfile.pq`` lists for a data file, in file order;
        None when the folder has no index file."""
        if not self.has_index():
            return None
        if self._by_file is None:
            self._by_file = IndexByFile(self.index, os.path.join(self.path, INDEX_FILE))
        return self._by_file.ids(self.file_index_of(path), path)


def resolve_files(
    folder_or_files: Union[str, os.PathLike, Sequence[str]],
) -> tuple[list[str], Optional[ConvertedFolder]]:
    """A folder, or a list of data files (of one folder): ``(files, folder or None)``."""
    if isinstance(folder_or_files, (str, os.PathLike)):
        whole = ConvertedFolder(os.fspath(folder_or_files))
        return list(whole.files), whole
    files = [os.fspath(f) for f in folder_or_files]
    if not files:
        raise ValueError("no data files given")
    for f in files:
        if not os.path.exists(f):
            raise FileNotFoundError(f"data file not found: {f}")
    dirs = {os.path.dirname(os.path.abspath(f)) for f in files}
    folder: Optional[ConvertedFolder] = None
    if len(dirs) == 1:
        d = dirs.pop()
        if os.path.exists(os.path.join(d, FEATURE_INDICES_FILE)):
            folder = ConvertedFolder(d)
    return files, folder
