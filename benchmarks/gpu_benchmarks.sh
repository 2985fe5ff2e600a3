#!/usr/bin/env bash
# The GPU benchmarks in one run, each part's output in OUT_FOLDER:
#   bash benchmarks/gpu_benchmarks.sh OUT_FOLDER [DEVICE (cuda:0)]
# 1. bench_gpu.py: inference and training steps of AST-Base against Hugging
#    Face's AST, fp32 / tf32 / bf16 / fp16 (gpu_tables.md);
# 2. the ESC-50 recipe (hparams/ast.yaml, AST-Base at 512 frames, batch 48)
#    for two epochs of fold 1 on 2,000 generated 5-s clips in ESC-50's
#    layout (ESC-50's size; a random AST saved as a Hugging Face folder
#    stands in for the published weights), in SpeechBrain's default
#    precision (fp32, TF32 matrix products: its allow_tf32 quirk) and with
#    --precision bf16; then ast-tag tags all 2,000 resampled clips with the
#    fp32 run's exported model on the GPU (esc50_fp32.log, esc50_bf16.log,
#    ast_tag.log);
# 3. bench_archive.py: ast-tag against Hugging Face's pipeline over 10-s
#    files on the GPU (archive.md).
# Each part has its own time limit, and one that fails leaves the others.
set -uo pipefail
OUT=${1:?usage: gpu_benchmarks.sh OUT_FOLDER [DEVICE]}
DEVICE=${2:-cuda:0}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
mkdir -p "$OUT"
cd "$ROOT"
export PYTHONUNBUFFERED=1 HF_HUB_DISABLE_PROGRESS_BARS=1
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

stage() {  # stage NAME LIMIT_S COMMAND...
    local name=$1 limit=$2 start=$SECONDS
    shift 2
    echo "== $name"
    timeout "$limit" "$@"
    echo "== $name: exit $?, $((SECONDS - start)) s"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv \
    | tee "$OUT/gpu.txt"
stage bench_gpu 200 python benchmarks/bench_gpu.py --device "$DEVICE" \
    --repeats 5 2>&1 | tee "$OUT/gpu_tables.md"

python recipes/ESC50/make_demo_data.py "$WORK/esc50" --clips-per-fold 80 \
    --seconds 5
python -c "import sys; sys.path.insert(0, 'benchmarks')
from bench_common import build_reference
build_reference('base', 512, sys.argv[1])" "$WORK/hf_ast" 2>/dev/null
for precision in fp32 bf16; do
    stage "esc50 $precision" 120 python recipes/ESC50/train.py \
        recipes/ESC50/hparams/ast.yaml --data_folder "$WORK/esc50" \
        --pretrained_ast "$WORK/hf_ast" --n_classes 5 --folds "[1]" \
        --number_of_epochs 2 --device "$DEVICE" --precision "$precision" \
        --output_folder "$WORK/esc50_$precision" --noprogressbar 2>&1 \
        | tee "$OUT/esc50_$precision.log"
done
stage ast-tag 60 python -m pretrained_interfaces.tag_cli \
    "$WORK/esc50/audio_16k" --model "$WORK/esc50_fp32/model" \
    --device "$DEVICE" --output "$WORK/tags.jsonl" --batch-size 32 2>&1 \
    | tee "$OUT/ast_tag.log"
stage bench_archive 100 python benchmarks/bench_archive.py \
    --device "$DEVICE" --archive-files 200 --archive-batch 32 2>&1 \
    | tee "$OUT/archive.md"
rm -rf "$WORK"
