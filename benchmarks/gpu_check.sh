#!/usr/bin/env bash
# GPU check for ensembles of SGD runs (verify._ensemble / verify._ensemble_torch), in one go:
#   1. what is here (GPU, torch, triton, numba) — this script installs nothing;
#   2. correctness: the CUDA tests of tests/test_ensemble.py, then the CUDA engines (Triton and
#      eager PyTorch, float64 and float32) against the CPU numba path, max deviations asserted;
#   3. benchmark: run-steps/s of the fused Triton kernel vs eager PyTorch bmm on the same GPU at
#      R = 1024, 16384, 65536 (d=50, 100 neurons), and train_ensemble end to end at R = 16384.
# Usage, from anywhere:  bash benchmarks/gpu_check.sh     (each step has a timeout; 330 s at most in all)
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
status=0

echo "== environment"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "nvidia-smi: not found"
python - <<'PY' || exit 2
import importlib
for name in ("numpy", "numba", "torch", "triton"):
    try:
        print(f"{name:6s} {importlib.import_module(name).__version__}")
    except ImportError:
        print(f"{name:6s} not installed")
import torch
if not torch.cuda.is_available():
    raise SystemExit("PyTorch sees no CUDA GPU: nothing to check")
print("device", torch.cuda.get_device_name())
PY

echo "== correctness: tests (CUDA cases)"
timeout 70 python -m pytest tests/test_ensemble.py -q -p no:cacheprovider -k "Cuda" || status=1

echo "== correctness: CUDA engines vs the CPU path (16 runs, d=50, 100 neurons, 2000 steps)"
timeout 100 python benchmarks/bench_ensemble.py --check || status=1

echo "== benchmark: run-steps/s, fused Triton kernel vs eager PyTorch bmm, same GPU"
timeout 150 python benchmarks/bench_ensemble.py --gpu || status=1

exit $status
