"""Regenerate ``tests/data/seed_reference/*`` by running the original research code.

Usage (downloads nothing; both checkouts are given as paths)::

    python resources/seed_reference/make_references.py \\
        --original /path/to/LLP-at-IceCube \\
        --jammy /path/to/jammy_flows-source \\
        [--out tests/data/seed_reference]

``--original`` is a checkout of ``axel-ponten/LLP-at-IceCube`` (its ``reconstruction/`` folder is
used), ``--jammy`` a folder holding the ``jammy_flows`` package (an unpacked source archive).
This script imports neither ``llp_gap_reco`` of this repository nor IceTray: the original
``llp_gap_reco`` (same name) is put first on ``sys.path``, and the few outside pieces its code
touches are replaced by stand-ins defined here:

* ``xformers.ops.fmha``: block-diagonal attention, ``softmax(q k^T / sqrt(d)) v`` within each
  event (what ``memory_efficient_attention`` with a ``BlockDiagonalMask`` computes), on CPU;
* ``icecube`` (``dataclasses``, ``ml_suite``, ...): the converter's ``obtain_encoded_data`` gets a
  frame holding a pulse map and a feature extractor whose ``get_feature_map`` returns the raw
  per-DOM values of IceCube's event-feature classes (computed below, in float64, one pulse at a
  time, with the ChargeWeightedMeanTimePulseModifier). The post-processing under test (the
  log(x + 1) of each charge group) is the original's own code.

What runs unchanged from the original: ``Converter.create_feature_objects`` (the
``feature_indices`` of every ``feature_configs.py`` entry), ``i3_methods.obtain_encoded_data``,
``LLPDataset`` (items of a folder written in its format), ``LLPTransformerModel`` (forward in
eval mode) and ``training.utils.create_cnf`` + ``init_params`` (the jammy_flows flow).

Outputs: ``seed_reference.npz`` (arrays) and ``seed_reference.json`` (configs, feature indices,
normalisation, settings). The flow MLP's weights are set from a closed formula after
``init_params`` (``flow_weight`` below; the tests use the same formula) so the file stays small;
its final bias is the one ``init_params`` fitted.
"""

from __future__ import annotations

import argparse
import ast
import collections
import json
import math
import os
import sys
import tempfile
import types

import numpy as np

ENCODER_SETTINGS = {
    "input_dim": 11,
    "output_dim": 16,
    "io_mlp_hidden_dims": "24",
    "io_add_skip_connection": 0,
    "attn_io_projection_type": "single_self",
    "attn_do_perlayer_out_projection": 1,
    "skip_input_projection": 0,
    "attn_computational_dim": 16,
    "attn_num_layers": 2,
    "attn_num_heads_per_layer": 2,
    "attn_use_layer_norm_1": 1,
    "attn_use_layer_norm_2": 1,
    "attn_use_extra_layer_norm": 0,
    "attn_layer_norm_first": 1,
    "attn_use_residual_addition": 1,
    "dtype": "float32",
    "attn_projection_type": "joint_qkv",
    "attn_perform_final_mapping": 1,
    "attn_package": "xformers",
    "attn_dropout": 0.1,
    "attn_internal_mlp_dim": 32,
    "attn_use_weighted_mean": 0,
    "attn_aggregation_mode": "mean",
    "attn_operator": "none",
}
NO_CNF_SETTINGS = dict(ENCODER_SETTINGS, output_dim=6, attn_num_layers=1)
FLOW_STR = "gggggt"
NORMALIZATION = {
    "position": {"offset": 0.0, "scale": 0.002},
    "log_charges": {"offset": 0.5, "scale": 1.3},
    "log_total_charge": {"offset": 0.2, "scale": 2.0},
    "time_widths": {"offset": 50.0, "scale": 0.01},
    "abs_times": {"offset": 100.0, "scale": 0.001},
}
PULSE_KEY = "SplitInIcePulses"
N_EVENTS = 6


def flow_weight(shape: tuple, salt: int) -> np.ndarray:
    """Deterministic small weights (exact in float64): the tests rebuild them."""
    i = np.arange(shape[0])[:, None] if len(shape) == 2 else np.arange(shape[0])
    j = np.arange(shape[1])[None, :] if len(shape) == 2 else 0
    return (((7 * i + 13 * j + 5 * salt) % 17) - 8.0) / (40.0 * (1 + salt))


# ---------------------------------------------------------------------------- stand-ins
def install_stand_ins() -> None:
    import torch

    class BlockDiagonalMask:
        def __init__(self, lens):
            self.lens = list(lens)

        @classmethod
        def from_tensor_list(cls, tensors):
            return cls([t.shape[1] for t in tensors]), torch.cat(list(tensors), dim=1)

        def split(self, x):
            return list(torch.split(x, self.lens, dim=1))

    def memory_efficient_attention(q, k, v, attn_bias=None, p=0.0, scale=None):
        scale = q.shape[-1] ** -0.5 if scale is None else scale
        out, start = [], 0
        for n in attn_bias.lens:
            qb, kb, vb = (t[:, start : start + n].transpose(1, 2) for t in (q, k, v))
            att = torch.softmax(qb @ kb.transpose(-1, -2) * scale, dim=-1)
            out.append((att @ vb).transpose(1, 2))
            start += n
        return torch.cat(out, dim=1)

    fmha = types.ModuleType("xformers.ops.fmha")
    fmha.BlockDiagonalMask = BlockDiagonalMask
    fmha.memory_efficient_attention = memory_efficient_attention
    ops = types.ModuleType("xformers.ops")
    ops.fmha = fmha
    xformers = types.ModuleType("xformers")
    xformers.ops = ops
    sys.modules.update({"xformers": xformers, "xformers.ops": ops, "xformers.ops.fmha": fmha})

    icecube = types.ModuleType("icecube")
    icecube.__path__ = []
    subs = {}
    for name in ("icetray", "dataio", "dataclasses", "MuonGun", "ml_suite", "sim_services"):
        subs[name] = types.ModuleType(f"icecube.{name}")
        setattr(icecube, name, subs[name])
    subs["dataclasses"].I3RecoPulseSeriesMapMask = type("I3RecoPulseSeriesMapMask", (), {})
    subs["ml_suite"].EventFeatureFactory = EventFeatureFactory
    subs["sim_services"].label_events = None
    sys.modules["icecube"] = icecube
    sys.modules.update({f"icecube.{k}": v for k, v in subs.items()})


OMKey = collections.namedtuple("OMKey", "string om pmt")
Pulse = collections.namedtuple("Pulse", "time charge width")


class RawFeatures:
    """Raw per-DOM values of IceCube's event-feature classes (float64, pulse by pulse)."""

    def __init__(self, config: dict):
        self.config = config

    def get_feature_map(self, frame) -> dict:
        pulses = frame[self.config["pulse_key"]]
        shift = 0.0
        if self.config.get("pulse_modifier"):
            qt = sum(p.charge * p.time for k in pulses for p in pulses[k])
            q = sum(p.charge for k in pulses for p in pulses[k])
            shift = qt / q
        out = {}
        for k in sorted(pulses):
            ps = sorted((p.time - shift, p.charge) for p in pulses[k])
            out[k] = np.array(
                [
                    v
                    for f in self.config["feature_config"]["features"]
                    for v in self._values(f, ps, pulses[k])
                ],
                dtype=np.float64,
            )
        return out

    @staticmethod
    def _values(feature: dict, ps: list, raw: list) -> list:
        name, kw = feature["class"], feature.get("kwargs") or {}
        t = [p[0] for p in ps]
        q = [p[1] for p in ps]
        total = sum(np.array([p.charge for p in raw]))  # as obtain_encoded_data sums them
        mean = sum(a * b for a, b in zip(q, t)) / sum(q)
        if name == "TotalCharge":
            return [total]
        if name == "ChargeUntilT":
            return [sum(b for a, b in zip(t, q) if a <= t[0] + T) for T in kw["times"]]
        if name == "TSpread":
            return [t[-1] - t[0]]
        if name == "ChargeWeightedStd":
            return [math.sqrt(sum(b * (a - mean) ** 2 for a, b in zip(t, q)) / sum(q))]
        if name == "ChargeWeightedMean":
            return [mean]
        if name == "TFirstPulse":
            return [t[0]]
        if name == "TLastPulse":
            return [t[-1]]
        if name == "TimeAtChargePercentile":
            out = []
            for p in kw["percentiles"]:
                cum = 0.0
                for a, b in zip(t, q):
                    cum += b / sum(q)
                    if cum >= p - 1e-9:
                        out.append(a)
                        break
            return out
        raise ValueError(name)


class EventFeatureFactory:
    def __init__(self, config: dict):
        self.config = config

    def make_feature_extractor(self) -> RawFeatures:
        return RawFeatures(self.config)


# ---------------------------------------------------------------------------- inputs
def make_events(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pulses ``[N, 6]`` (string, om, pmt, time, charge, width) of ``N_EVENTS`` events, their
    offsets ``[E+1]`` and the DOM table ``[M, 5]`` (string, om, x, y, z)."""
    strings, oms = np.meshgrid(np.arange(1, 13), np.arange(1, 31), indexing="ij")
    table = np.stack(
        [
            strings.ravel(),
            oms.ravel(),
            (strings.ravel() % 4) * 125.0 - 190.0,
            (strings.ravel() // 4) * 120.0 - 150.0,
            500.0 - 17.0 * oms.ravel(),
        ],
        axis=1,
    ).astype(np.float64)
    rows, offsets = [], [0]
    for _ in range(N_EVENTS):
        doms = rng.choice(table.shape[0], size=int(rng.integers(3, 15)), replace=False)
        t0 = rng.uniform(9000, 11000)
        for d in doms:
            n = int(rng.integers(1, 9))
            heavy = rng.uniform() < 0.2
            times = t0 + rng.uniform(0, 600) + np.cumsum(rng.exponential(30, size=n))
            charges = rng.lognormal(1.5 if heavy else -0.3, 1.2, size=n).round(6) + 0.025
            if heavy:
                charges[0] += 300.0
            for tt, qq in zip(times.round(3), charges):
                rows.append([table[d, 0], table[d, 1], 0, tt, qq, 3.0])
        offsets.append(len(rows))
    return np.array(rows, dtype=np.float64), np.array(offsets, dtype=np.int64), table


def frame_of(pulses: np.ndarray) -> dict:
    pmap: dict = collections.defaultdict(list)
    for s, o, pmt, t, q, w in pulses:
        pmap[OMKey(int(s), int(o), int(pmt))].append(Pulse(float(t), float(q), float(w)))
    return {PULSE_KEY: dict(sorted(pmap.items()))}


def feature_objects(converter_path: str, encoding_type: str, feature_configs) -> dict:
    """Run ``Converter.create_feature_objects`` of the original converter (extracted with
    ``ast`` so the module's awkward/dataio imports are not needed)."""
    import yaml

    tree = ast.parse(open(converter_path).read())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Converter")
    fn = next(
        n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "create_feature_objects"
    )
    ns = {
        "yaml": yaml,
        "feature_configs": feature_configs,
        "EventFeatureFactory": EventFeatureFactory,
    }
    exec(compile(ast.Module(body=[fn], type_ignores=[]), converter_path, "exec"), ns)
    self = types.SimpleNamespace(encoding_type=encoding_type, pulse_series_name=PULSE_KEY)
    extractor, indices = ns["create_feature_objects"](self)
    return {"extractor": extractor, "indices": indices}


# ---------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--original", required=True, help="checkout of LLP-at-IceCube")
    ap.add_argument("--jammy", required=True, help="folder holding the jammy_flows package")
    ap.add_argument(
        "--out",
        default=os.path.join(
            os.path.dirname(__file__), "..", "..", "tests", "data", "seed_reference"
        ),
    )
    args = ap.parse_args()
    reco = os.path.join(os.path.abspath(args.original), "reconstruction")
    conv_dir = os.path.join(reco, "i3-to-parquet-conversion")
    enc_dir = os.path.join(reco, "transformer-encoder", "llp_gap_reco")
    sys.path[:0] = [enc_dir, conv_dir, os.path.abspath(args.jammy)]
    install_stand_ins()

    import feature_configs
    import i3_methods
    import llp_gap_reco
    import pandas as pd
    import torch
    import yaml
    from llp_gap_reco.dataset import LLPDataset
    from llp_gap_reco.encoder import LLPTransformerModel
    from llp_gap_reco.training import utils as original_utils

    assert os.path.abspath(llp_gap_reco.__file__).startswith(enc_dir), llp_gap_reco.__file__
    torch.set_num_threads(1)
    rng = np.random.default_rng(20240611)
    out: dict[str, np.ndarray] = {}
    meta: dict = {
        "normalization": NORMALIZATION,
        "encoder_settings": ENCODER_SETTINGS,
        "no_cnf_settings": NO_CNF_SETTINGS,
        "flow_str": FLOW_STR,
        "pulse_key": PULSE_KEY,
        "feature_configs": {},
        "feature_indices": {},
    }

    # feature indices of every original feature config, as the converter builds them
    for name, text in feature_configs.feature_configs.items():
        objs = feature_objects(os.path.join(conv_dir, "converter.py"), name, feature_configs)
        meta["feature_configs"][name] = text
        meta["feature_indices"][name] = objs["indices"]
    objs = feature_objects(
        os.path.join(conv_dir, "converter.py"), "llp_no_percentile", feature_configs
    )
    fi = objs["indices"]

    # obtain_encoded_data on each event
    pulses, offsets, table = make_events(rng)
    geo = {OMKey(int(s), int(o), 0): (x, y, z) for s, o, x, y, z in table}
    rde = dict.fromkeys(geo, 1.0)
    encoded = []
    for e in range(N_EVENTS):
        frame = frame_of(pulses[offsets[e] : offsets[e + 1]])
        geo_e = {k: geo[OMKey(k.string, k.om, 0)] for k in frame[PULSE_KEY]}
        rde_e = {k: rde[OMKey(k.string, k.om, 0)] for k in frame[PULSE_KEY]}
        res = i3_methods.obtain_encoded_data(
            frame, PULSE_KEY, geo_e, rde_e, feature_extractor=objs["extractor"], feature_indices=fi
        )
        encoded.append(res[0])
    out.update(
        pulses=pulses,
        pulse_offsets=offsets,
        dom_table=table,
        encoded=np.concatenate(encoded),
        encoded_seqlens=np.array([a.shape[0] for a in encoded], dtype=np.int64),
    )

    # LLPDataset items of a folder in the original format holding those events
    labels = rng.uniform(-400, 400, size=(N_EVENTS, 6)).round(3)
    with tempfile.TemporaryDirectory() as tmp:
        rows, index = [], collections.defaultdict(list)
        for e, feats in enumerate(encoded):
            row = {"data_encoded": feats.tolist(), "run_id": 5, "event_id": 100 + e}
            row.update(
                zip(
                    [
                        "llp_prod_x",
                        "llp_prod_y",
                        "llp_prod_z",
                        "llp_decay_x",
                        "llp_decay_y",
                        "llp_decay_z",
                    ],
                    labels[e].tolist(),
                )
            )
            rows.append(row)
            for c, v in (
                ("file_index", 0),
                ("index_within_file", e),
                ("event_id", 100 + e),
                ("run_id", 5),
            ):
                index[c].append(v)
        pd.DataFrame(rows).to_parquet(os.path.join(tmp, "events.000000.pq"))
        pd.DataFrame(index).to_parquet(os.path.join(tmp, "indexfile.pq"))
        with open(os.path.join(tmp, "feature_indices.yaml"), "w") as fh:
            yaml.dump(fi, fh)
        ds = LLPDataset(
            os.path.join(tmp, "indexfile.pq"),
            [os.path.join(tmp, "events.000000.pq")],
            os.path.join(tmp, "feature_indices.yaml"),
            normalize_data=True,
            normalize_target=False,
            normalization_args=NORMALIZATION,
            device="cpu",
            dtype=torch.float32,
        )
        items = [ds[e] for e in range(N_EVENTS)]
    out["labels"] = labels
    out["items"] = torch.cat([d for d, _ in items]).numpy()
    out["item_labels"] = torch.stack([lab for _, lab in items]).numpy()

    # encoder forwards (eval mode) on the dataset items
    datavecs = [d.unsqueeze(0) for d, _ in items]
    datalens = torch.tensor([d.shape[0] for d, _ in items])
    for prefix, settings, seed in (("enc", ENCODER_SETTINGS, 1), ("nocnf", NO_CNF_SETTINGS, 2)):
        torch.manual_seed(seed)
        model = LLPTransformerModel(**settings).eval()
        with torch.no_grad():
            out[f"{prefix}_output"] = model(datavecs, datalens).numpy()
        for k, v in model.state_dict().items():
            out[f"{prefix}:{k}"] = v.numpy()

    # the flow as create_cnf + init_params build it, then log p(label | encoding)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.yaml")
        with open(path, "w") as fh:
            yaml.safe_dump({"settings": ENCODER_SETTINGS, "flow": {"flow_str": FLOW_STR}}, fh)
        torch.manual_seed(3)
        np.random.seed(3)  # noqa: NPY002 (jammy_flows draws from the global RNG)
        pdf = original_utils.create_cnf(path, device="cpu")
    init_labels = rng.normal(size=(400, 6)) * 250.0 + rng.uniform(-100, 100, size=6)
    pdf.init_params(data=torch.from_numpy(init_labels))
    sd = pdf.state_dict()
    keys = sorted(sd)
    # the final Linear's bias holds the parameters init_params fitted; the rest is overwritten
    fitted = [k for k in keys if k.endswith("2.bias")]
    assert (
        len(keys) == 4 and len(fitted) == 1 and all(k.startswith("mlp_predictors.0.") for k in keys)
    ), keys
    with torch.no_grad():
        for salt, k in enumerate(keys):
            if k != fitted[0]:
                sd[k].copy_(torch.from_numpy(flow_weight(tuple(sd[k].shape), salt)))
    enc = torch.from_numpy(
        np.concatenate([out["enc_output"].astype(np.float64), rng.normal(size=(4, 16)) * 0.7])
    )
    flow_labels = torch.from_numpy(init_labels[: enc.shape[0]] * 0.8 + 10.0)
    with torch.no_grad():
        log_pdf = pdf(flow_labels, conditional_input=enc)[0]
    out.update(
        flow_fitted_bias=sd[fitted[0]].numpy(),
        flow_encodings=enc.numpy(),
        flow_labels=flow_labels.numpy(),
        flow_log_pdf=log_pdf.numpy(),
    )
    meta["flow_keys"] = keys
    meta["flow_fitted_key"] = fitted[0]
    meta["flow_shapes"] = {k: list(sd[k].shape) for k in keys}
    meta["feature_indices_used"] = fi

    os.makedirs(args.out, exist_ok=True)
    np.savez_compressed(os.path.join(args.out, "seed_reference.npz"), **out)
    with open(os.path.join(args.out, "seed_reference.json"), "w") as fh:
        json.dump(meta, fh, indent=1, sort_keys=True)
    print(f"wrote {args.out}/seed_reference.npz and seed_reference.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
