"""The references produced by running the original research code
(``resources/seed_reference/make_references.py``), and the original-format files built from them.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import yaml
from llp_gap_reco.geometry import Geometry

REF_DIR = pathlib.Path(__file__).parent / "data" / "seed_reference"
TARGETS = ["llp_prod_x", "llp_prod_y", "llp_prod_z", "llp_decay_x", "llp_decay_y", "llp_decay_z"]


def load_reference() -> tuple[dict, dict]:
    """``(arrays, meta)`` of the committed reference."""
    with np.load(REF_DIR / "seed_reference.npz") as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads((REF_DIR / "seed_reference.json").read_text())
    return arrays, meta


def flow_weight(shape: tuple, salt: int) -> np.ndarray:
    """The closed-form weights the reference script set after ``init_params`` (same formula)."""
    i = np.arange(shape[0])[:, None] if len(shape) == 2 else np.arange(shape[0])
    j = np.arange(shape[1])[None, :] if len(shape) == 2 else 0
    return (((7 * i + 13 * j + 5 * salt) % 17) - 8.0) / (40.0 * (1 + salt))


def flow_state(ref: dict, meta: dict) -> dict:
    """The jammy_flows flow's state dict as the reference used it."""
    sd = {}
    for salt, key in enumerate(meta["flow_keys"]):
        if key == meta["flow_fitted_key"]:
            sd[key] = torch.from_numpy(ref["flow_fitted_bias"])
        else:
            sd[key] = torch.from_numpy(flow_weight(tuple(meta["flow_shapes"][key]), salt))
    return sd


def encoder_state(ref: dict, prefix: str) -> dict:
    return {
        k.split(":", 1)[1]: torch.from_numpy(v)
        for k, v in ref.items()
        if k.startswith(prefix + ":")
    }


def geometry(ref: dict) -> Geometry:
    t = ref["dom_table"]
    return Geometry(t[:, 0].astype(np.int32), t[:, 1].astype(np.int32), t[:, 2:5])


def original_feature_config_text(meta: dict, name: str = "llp_no_percentile") -> str:
    """A ``feature_configs.py`` entry with the pulse key filled in, as the converter did."""
    return meta["feature_configs"][name].replace("PULSEKEY_PLACEHOLDER", meta["pulse_key"])


def write_original_files(ref: dict, meta: dict, out: pathlib.Path) -> dict:
    """The original training artefacts of the reference models (model YAMLs, state dicts,
    normalization_args.yaml, feature_indices.yaml, feature config text)."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        n: out / n
        for n in (
            "model.yaml",
            "model_no_cnf.yaml",
            "model_best.pth",
            "no_cnf_best.pth",
            "flow_best.pth",
            "normalization_args.yaml",
            "feature_indices.yaml",
            "feature_config.yaml",
        )
    }
    files["model.yaml"].write_text(
        yaml.safe_dump(
            {"settings": meta["encoder_settings"], "flow": {"flow_str": meta["flow_str"]}}
        )
    )
    files["model_no_cnf.yaml"].write_text(yaml.safe_dump({"settings": meta["no_cnf_settings"]}))
    torch.save(encoder_state(ref, "enc"), files["model_best.pth"])
    torch.save(encoder_state(ref, "nocnf"), files["no_cnf_best.pth"])
    torch.save(flow_state(ref, meta), files["flow_best.pth"])
    files["normalization_args.yaml"].write_text(yaml.safe_dump(meta["normalization"]))
    with open(files["feature_indices.yaml"], "w") as fh:
        yaml.dump(meta["feature_indices_used"], fh)  # as the converter wrote it
    files["feature_config.yaml"].write_text(original_feature_config_text(meta))
    return files


def write_original_folder(ref: dict, meta: dict, out: pathlib.Path) -> pathlib.Path:
    """The reference events as a folder in the original converter's format."""
    out.mkdir(parents=True, exist_ok=True)
    offsets = np.concatenate([[0], np.cumsum(ref["encoded_seqlens"])])
    n = len(ref["encoded_seqlens"])
    rows = []
    for e in range(n):
        row = {
            "data_encoded": ref["encoded"][offsets[e] : offsets[e + 1]].tolist(),
            "run_id": 5,
            "event_id": 100 + e,
        }
        row.update(zip(TARGETS, ref["labels"][e].tolist()))
        rows.append(row)
    pq.write_table(pa.Table.from_pylist(rows), out / "events.000000.pq")
    pq.write_table(
        pa.table(
            {
                "file_index": np.zeros(n, np.int64),
                "index_within_file": np.arange(n),
                "event_id": 100 + np.arange(n),
                "run_id": np.full(n, 5),
            }
        ),
        out / "indexfile.pq",
    )
    with open(out / "feature_indices.yaml", "w") as fh:
        yaml.dump(meta["feature_indices_used"], fh)
    return out


def packed_items(ref: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The original LLPDataset's items, packed: ``(x [N, D] float32, seqlens [B])``."""
    return torch.from_numpy(ref["items"]), torch.from_numpy(ref["encoded_seqlens"])


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))
