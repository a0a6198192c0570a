#!/usr/bin/env python3
"""Writes ``tests/data/jammy_reference.npz``: log densities computed by jammy_flows itself.

For each layer string in ``LAYERS`` the flow is built by ``jammy_flows.pdf`` (through
``llp_gap_reco.model.flow.jammy_backend.JammyFlow``, the original model's options) and initialised
by jammy_flows' own ``init_params`` on vertex-like labels; its parameters are then perturbed
(so that the amortisation MLP matters) and ``log p(x | encoding)`` is evaluated in float64 at
fixed points. The file holds, per layer string ``L``: ``L/state/<key>`` (the state dict),
``L/log_prob`` ``[N]``; shared: ``x`` ``[N, 6]`` (metres), ``encoding`` ``[N, D]``, and ``meta``
(JSON: jammy_flows version, MLP size). ``tests/test_flow_jammy.py`` checks the native flow
against it where jammy_flows is missing. Needs jammy_flows:

    pip install ../shared/vendor/jammy_flows/jammy_flows-*.tar.gz
    python resources/jammy_reference/make_reference.py
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import pathlib

import numpy as np
import torch
from llp_gap_reco.model.flow.jammy_backend import JammyFlow

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "jammy_reference.npz"
#: layer strings covered (g: Gaussianisation flow, t: affine with full covariance)
LAYERS = ("gggggt", "ggt", "gt", "t")
#: conditional input size and amortisation MLP of the reference flows (small: a small file)
CONDITIONAL_DIM = 4
MLP_HIDDEN = (8,)
N_POINTS = 40
SEED = 20261130


def vertex_like_labels(rng: np.random.Generator, n: int) -> np.ndarray:
    """``[n, 6]`` production + decay vertices in metres: correlated, with a skewed gap."""
    prod = rng.normal(size=(n, 3)) @ np.array([[300.0, 0, 0], [80, 250, 0], [-40, 60, 400]]).T
    direction = rng.normal(size=(n, 3)) * 0.3 + np.array([0.2, 0.1, -1.0])
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    gap = rng.exponential(150.0, size=(n, 1))
    return np.concatenate([prod, prod + gap * direction], axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    rng = np.random.default_rng(SEED)
    train = vertex_like_labels(rng, 1000)
    x = np.concatenate([vertex_like_labels(rng, N_POINTS - 8), rng.normal(0, 600, (8, 6))])
    encoding = rng.normal(size=(N_POINTS, CONDITIONAL_DIM))
    arrays: dict[str, np.ndarray] = {"x": x, "encoding": encoding}
    for i, layers in enumerate(LAYERS):
        flow = JammyFlow(layers, conditional_input_dim=CONDITIONAL_DIM, mlp_hidden_dims=MLP_HIDDEN)
        flow.init_from_labels(torch.as_tensor(train), seed=i)
        g = torch.Generator().manual_seed(SEED + i)
        state = {
            k: v + 0.05 * torch.randn(v.shape, generator=g, dtype=v.dtype)
            for k, v in flow.state_dict().items()
        }
        flow.load_state_dict(state)
        with torch.no_grad():
            log_prob = flow.log_prob(torch.as_tensor(x), torch.as_tensor(encoding))
        if not torch.isfinite(log_prob).all():
            raise SystemExit(f"{layers}: jammy_flows gave non-finite log densities")
        arrays[f"{layers}/log_prob"] = log_prob.double().numpy()
        arrays.update({f"{layers}/state/{k}": v.double().numpy() for k, v in state.items()})
    meta = {
        "jammy_flows": importlib.metadata.version("jammy_flows"),
        "layers": list(LAYERS),
        "mlp_hidden_dims": list(MLP_HIDDEN),
        "conditional_input_dim": CONDITIONAL_DIM,
        "seed": SEED,
        "command": "python resources/jammy_reference/make_reference.py",
    }
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(args.out, **arrays)
    print(
        f"{args.out}: {len(LAYERS)} flows x {N_POINTS} points "
        f"({pathlib.Path(args.out).stat().st_size / 1024:.0f} KiB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
