#!/usr/bin/env bash
# The README's physics run: 48,000 training events of the default simulation, the flow and the
# MSE baseline trained side by side (one torch thread each, 12,000 steps each,
# configs/train_physics.yaml); the flow's width calibrated again on 15,000 events of their own
# (calibration coverage per quintile to ~1.2 points rather than the ~2.1 points of the 5,000
# validation events); then the evaluation report on 20,000 held-out events. 35-40 minutes
# on an idle 2-core CPU. Run from the repository root with the package installed; writes under
# $1 (default physics_run/). Copy $1/report/report.json to resources/reports/physics/ and run
# resources/reports/render_readme.py --write to update the README.
set -euo pipefail
out=${1:-physics_run}
mkdir -p "$out"
python -c "from llp_gap_reco.dataset import write_simulated_folder as w; \
  w('$out/sim/train', 48000, seed=101, events_per_file=1000, workers=2, resume=True); \
  w('$out/sim/calib', 15000, seed=303, events_per_file=1000, workers=2, resume=True); \
  w('$out/sim/test', 20000, seed=202, events_per_file=1000, workers=2, resume=True)"
export OMP_NUM_THREADS=1
llp-gap-reco train --data "$out/sim/train" --config configs/train_physics.yaml \
    --out "$out/runs/flow" --no-progress &
flow=$!
llp-gap-reco train --data "$out/sim/train" --config configs/train_physics.yaml \
    --out "$out/runs/mse" --loss mse --no-progress &
mse=$!
wait "$flow"
wait "$mse"
OMP_NUM_THREADS=2 llp-gap-reco calibrate --model "$out/runs/flow/model.pt" --data "$out/sim/calib" \
    --out "$out/runs/flow/model_calibrated.pt" --max-events 15000 --seed 303
OMP_NUM_THREADS=2 llp-gap-reco evaluate --model "$out/runs/flow/model_calibrated.pt" \
    --baseline "$out/runs/mse/model.pt" \
    --data "$out/sim/test" --out "$out/report"
