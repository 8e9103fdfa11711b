#!/usr/bin/env bash
# The GPU benchmarks (issue 20): on a machine with CUDA, the benchmark cases of benchmarks/run.py on the GPU
# in fp32 and bf16, then the default job (msd-small) under torchrun with one process per GPU. On a machine
# without CUDA it says so and exits 0.
#
#     benchmarks/gpu.sh            # from the repository, with warprnn installed (or PYTHONPATH=src)
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python}"
gpus="$("$python" -c 'import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)')"
if [ "$gpus" -eq 0 ]; then
    echo "benchmarks/gpu.sh: torch sees no CUDA device here; nothing to run"
    exit 0
fi
echo "== benchmark cases on the GPU, fp32 and bf16 ($gpus GPU(s) seen; cuda:0 measured)"
"$python" benchmarks/run.py --device cuda --variants fp32 bf16
echo
echo "== the default job on $gpus GPU(s): torchrun --nproc-per-node $gpus (NCCL)"
out="$(mktemp -d)"
start=$(date +%s)
"$python" -m torch.distributed.run --standalone --nproc-per-node "$gpus" -m warprnn train msd-small \
    train.device=cuda "train.out_dir=$out"
echo "$gpus process(es): $(( $(date +%s) - start )) s in all (compare one: python -m warprnn train msd-small)"
echo "run folder: $(ls -d "$out"/*)"
