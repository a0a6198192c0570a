"""Load an ``llp-gap-reco export-seed`` folder with the original research code and run it.

Usage (downloads nothing)::

    llp-gap-reco export-seed --model model.pt --out exported/
    python resources/seed_reference/check_export.py --original /path/to/LLP-at-IceCube \\
        --jammy /path/to/jammy_flows-source --exported exported/ [--reference ref.npz]

Builds the model with the original ``training.utils.create_full_model`` from
``exported/model_settings.yaml``, loads ``model_best.pth`` and ``flow_best.pth`` with
``strict=True`` and runs the encoder (and the flow's log density) on the normalised items of
``--reference`` (default: ``tests/data/seed_reference/seed_reference.npz``), printing the
encodings and log densities for comparison with the bundle's. Uses the same stand-ins as
``make_references.py`` (xformers' block-diagonal attention on CPU).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--original", required=True, help="checkout of LLP-at-IceCube")
    ap.add_argument("--jammy", required=True, help="folder holding the jammy_flows package")
    ap.add_argument("--exported", required=True, help="folder written by export-seed")
    ap.add_argument(
        "--reference",
        default=os.path.join(
            HERE, "..", "..", "tests", "data", "seed_reference", "seed_reference.npz"
        ),
    )
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location(
        "make_references", os.path.join(HERE, "make_references.py")
    )
    refs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(refs)
    enc_dir = os.path.join(
        os.path.abspath(args.original), "reconstruction", "transformer-encoder", "llp_gap_reco"
    )
    sys.path[:0] = [enc_dir, os.path.abspath(args.jammy)]
    refs.install_stand_ins()

    import torch
    from llp_gap_reco.training import utils

    d = args.exported
    settings = os.path.join(d, "model_settings.yaml")
    model = utils.create_transformer(settings, device="cpu")
    model.load_state_dict(torch.load(os.path.join(d, "model_best.pth")), strict=True)
    model.eval()
    with np.load(args.reference) as z:
        items, lens = torch.from_numpy(z["items"]), z["encoded_seqlens"]
        labels = torch.from_numpy(z["flow_labels"][: len(lens)])
    vecs = [t.unsqueeze(0) for t in torch.split(items, lens.tolist())]
    with torch.no_grad():
        out = model(vecs, torch.from_numpy(lens))
    np.set_printoptions(precision=8, linewidth=120)
    print("encoder output (original code):\n", out.numpy())
    flow_path = os.path.join(d, "flow_best.pth")
    if os.path.exists(flow_path):
        pdf = utils.create_cnf(settings, device="cpu")
        pdf.load_state_dict(torch.load(flow_path), strict=True)
        with torch.no_grad():
            log_pdf = pdf(labels.double(), conditional_input=out.double())[0]
        print("log p(reference labels) (original code + jammy_flows):\n", log_pdf.numpy())
    return 0


if __name__ == "__main__":
    sys.exit(main())
