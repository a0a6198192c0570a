"""The input convention of a converted folder, and the check that a model matches it.

A folder written by this package records its feature config (with ``convention``) in
``manifest.json``. A folder of the original converter has no manifest; its ``feature_indices``
layout tells: the TotalCharge column listed under both ``log_total_charge`` and ``log_charges``
is the original convention (``data.features.convention``).
"""

from __future__ import annotations

import copy
import logging
import os
from typing import Mapping, Sequence, Union

from ...core.errors import InputError
from ..features.config import DEFAULT_CONFIG
from ..features.convention import ORIGINAL, convention_of, layout_convention
from .format import DatasetFormatError
from .reader import ConvertedFolder, resolve_files

logger = logging.getLogger(__name__)


class ConventionMismatch(InputError):
    """A model applied to features written in another input convention."""


def folder_convention(folder: ConvertedFolder) -> str:
    """``package`` or ``original``: from the manifest, else from the ``feature_indices`` layout.

    Raises :class:`DatasetFormatError` when the manifest contradicts the layout.
    """
    by_layout = layout_convention(folder.feature_indices)
    cfg = folder.manifest.get("feature_config")
    if cfg is None:
        return by_layout
    named = convention_of(cfg)
    if named != by_layout:
        raise DatasetFormatError(
            f"{folder.path}: manifest.json names convention {named!r} but "
            f"feature_indices.yaml has the {by_layout!r} layout"
        )
    return named


def folder_feature_config(folder: ConvertedFolder) -> dict:
    """The feature config a folder was written with: its manifest's, or (folders of the original
    converter) the default features in the folder's convention, with a warning."""
    cfg = folder.manifest.get("feature_config")
    if cfg is not None:
        folder_convention(folder)  # the manifest agrees with the layout
        return dict(cfg)
    cfg = copy.deepcopy(DEFAULT_CONFIG)
    cfg["convention"] = folder_convention(folder)
    logger.warning(
        "%s has no feature config in its manifest; assuming the default features in "
        "the %r convention",
        folder.path,
        cfg["convention"],
    )
    return cfg


def check_model_convention(
    feature_config: Mapping, data: Union[str, os.PathLike, Sequence], what: str = "model"
) -> None:
    """Refuse to apply a model whose feature config has another convention than ``data``.

    ``data``: a converted folder or a list of its data files (files outside a folder are not
    checked). Raises :class:`ConventionMismatch` saying which convention each side has.
    """
    src = os.fspath(data) if isinstance(data, (str, os.PathLike)) else [os.fspath(f) for f in data]
    _, folder = resolve_files(src)
    if folder is None:
        return
    model, written = convention_of(feature_config), folder_convention(folder)
    if model != written:
        how = {
            ORIGINAL: "the original converter's (TotalCharge = log(1 + log(1 + Q)))",
            "package": "this package's (TotalCharge = log(1 + Q))",
        }
        raise ConventionMismatch(
            f"{what} expects features in the {model!r} convention, {how[model]}, but "
            f"{folder.path} was written in the {written!r} convention, {how[written]}: its "
            "input would be wrong. Convert the I3 files again with the model's feature config "
            "(llp-gap-reco convert --model MODEL) or use a model trained in that convention."
        )
