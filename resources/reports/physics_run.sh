#!/usr/bin/env bash
# The README's physics run: 48,000 training and 5,000 held-out events of the default simulation,
# the flow and the MSE baseline trained side by side (one torch thread each, 12,000 steps each,
# configs/train_physics.yaml), then the evaluation report. 18-25 minutes on an idle 2-core
# CPU. Run from the repository root with the package installed; writes under $1 (default
# physics_run/). Copy $1/report/report.json to resources/reports/physics/ and run
# resources/reports/render_readme.py --write to update the README.
set -euo pipefail
out=${1:-physics_run}
mkdir -p "$out"
python -c "from llp_gap_reco.dataset import write_simulated_folder as w; \
  w('$out/sim/train', 48000, seed=101, events_per_file=1000, workers=2, resume=True); \
  w('$out/sim/test', 5000, seed=202, events_per_file=1000, workers=2, resume=True)"
export OMP_NUM_THREADS=1
llp-gap-reco train --data "$out/sim/train" --config configs/train_physics.yaml \
    --out "$out/runs/flow" --no-progress &
flow=$!
llp-gap-reco train --data "$out/sim/train" --config configs/train_physics.yaml \
    --out "$out/runs/mse" --loss mse --no-progress &
mse=$!
wait "$flow"
wait "$mse"
llp-gap-reco evaluate --model "$out/runs/flow/model.pt" --baseline "$out/runs/mse/model.pt" \
    --data "$out/sim/test" --out "$out/report"
