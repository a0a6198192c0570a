#!/usr/bin/env bash
# Wheel test: builds the wheel, installs it (not editable, no extras) into a fresh venv with torch
# from the CPU wheel, and runs the installed package from outside the repository: the console
# script and each subcommand's --help, the seed-API imports, and simulate -> train (a tiny
# bundle made here) -> predict. Catches runtime dependencies that only the editable
# `.[test,bench]` install provides.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "[wheel] build (from a copy of the tracked and unignored files: no stale build/ reused)"
mkdir -p "$work/src"
git -C "$ROOT" ls-files -co --exclude-standard -z | (cd "$ROOT" && tar --null -cf - -T -) \
  | tar -xf - -C "$work/src"
"$PYTHON" -m pip wheel -q --no-deps -w "$work/dist" "$work/src"
wheel=$(ls "$work"/dist/llp_gap_reco-*.whl)
echo "[wheel] $(basename "$wheel")"

"$PYTHON" -m venv "$work/venv"
VPY=$work/venv/bin/python
"$VPY" -m pip install -q "$TORCH_SPEC"
"$VPY" -m pip install -q "$wheel"
cd "$work"  # away from the repository: only the installed package is importable

CLI=$work/venv/bin/llp-gap-reco
"$CLI" --help >/dev/null
for sub in $("$VPY" -c "from llp_gap_reco.cli.main import SUBCOMMANDS; print(*SUBCOMMANDS)"); do
  "$CLI" "${sub//_/-}" --help >/dev/null
  echo "[wheel] llp-gap-reco ${sub//_/-} --help: ok"
done

"$VPY" - <<'PY'
import pathlib

import llp_gap_reco
from llp_gap_reco.dataset import LLPDataset, llp_collate_fn  # noqa: F401
from llp_gap_reco.encoder import LLPTransformerModel  # noqa: F401

assert "site-packages" in pathlib.Path(llp_gap_reco.__file__).as_posix(), llp_gap_reco.__file__
print("[wheel] seed-API imports: ok from", llp_gap_reco.__file__)
PY

cat > tiny.yaml <<'YAML'
epochs: 1
batch_size: 16
init_labels: 100
progress: false
val_fraction: 0.25
encoder: {output_dim: 16, io_mlp_hidden_dims: '16', attn_computational_dim: 16,
          attn_num_layers: 1, attn_num_heads_per_layer: 1, attn_internal_mlp_dim: 32}
flow: {flow_defs: gggggt, mlp_hidden_dims: [32]}
YAML
"$CLI" simulate --events 160 --seed 1 --out train --events-per-file 40
"$CLI" simulate --events 40 --seed 2 --out test --events-per-file 40
"$CLI" train --data train --out run --config tiny.yaml --device cpu --no-progress
"$CLI" predict --model run/model.pt --data test --out predictions.parquet --samples 64 \
  --no-progress
"$VPY" - <<'PY'
import glob
import math

import pyarrow.parquet as pq

from llp_gap_reco.dataset import LLPDataset

table = pq.read_table("predictions.parquet")
assert table.num_rows == 40, table.num_rows
col = table.column("prod_x").to_pylist() if "prod_x" in table.column_names else None
assert col is None or all(math.isfinite(v) for v in col), "non-finite prod_x"
ds = LLPDataset("test/indexfile.pq", glob.glob("test/*.pq"), "test/feature_indices.yaml",
                normalize_data=False)
info = ds.total_index_info
assert len(info) == 40, len(info)
print(f"[wheel] simulate -> train -> predict: {table.num_rows} events, columns "
      f"{table.column_names[:6]}...; LLPDataset.total_index_info: {len(info)} rows")
PY
echo "[wheel] ok"
