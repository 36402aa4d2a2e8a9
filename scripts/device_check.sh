#!/usr/bin/env bash
# The GPU checks, as one prepared run for a lent device machine (a session has ~15 minutes of
# device time in all, a machine's start included): what the CPU cannot show.
#
#   OUT=/dir bash scripts/device_check.sh        # on the machine, from the repository root
#   DEVICE=cpu OUT=/tmp/x bash scripts/device_check.sh   # a dry run here (the CUDA tests skip)
#
# Needs only what the device image already holds (python3 with torch, Triton, numpy, pillow,
# fonttools, pytest): the rasterizer, its tests and its benchmark import none of diffusers,
# svgpathtools or cairosvg, so nothing is installed; the repository is put on PYTHONPATH.
# Writes into $OUT: device.txt (GPU, driver, torch, Triton), tests.log (the CUDA tests: the
# rasterizer's images and gradients against the CPU's, the fused Triton kernels against the
# per-operation path, the embedded prior on CUDA), raster_gpu.txt (raster_bench.py's
# accelerator table: forward + forward/backward at 256^2 and 512^2 for 64 / 256 / 1024
# paths, packed leaves, the per-operation path, peak memory; and 16 views at 512^2 against
# one). Each step has its own time limit so that a slow one cannot eat the others' time;
# the whole run ends within about 9 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$(mktemp -d)}"
DEVICE="${DEVICE:-cuda}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
status=0

{
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "no nvidia-smi"
    python3 - <<'EOF'
import platform, torch
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(0))
try:
    import triton
    print("triton", triton.__version__)
except ImportError:
    print("triton: not importable (the fused kernels fall back to the per-operation path)")
EOF
} 2>&1 | tee "$OUT/device.txt"

echo "== CUDA tests"
timeout 240 python3 -m pytest -q -p no:cacheprovider -o addopts="" -rs \
    tests/raster/test_cuda.py tests/raster/test_fused.py "tests/priors/test_embedded.py::test_cuda_prior_matches_cpu" \
    2>&1 | tee "$OUT/tests.log" || status=1

echo "== rasterizer on $DEVICE"
timeout 300 python3 benchmarks/raster_bench.py --no-circles --no-icons --no-stages --device "$DEVICE" \
    --repeats 20 --overwrite --out "$OUT/raster_gpu.txt" >"$OUT/raster_gpu.log" 2>&1 || status=1
cat "$OUT/raster_gpu.txt" 2>/dev/null || tail -20 "$OUT/raster_gpu.log"
exit $status
