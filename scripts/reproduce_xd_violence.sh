#!/usr/bin/env bash
# NOVA's recipe on the XD-Violence test set (800 videos) and its ablation, with real weights,
# under the official ground truth (--protocol xdviodet): for each encoder, one encoding pass
# (cached), then every row re-scored from the embeddings - the NOVA row, each piece off in turn
# (anchor, motion gate, refinement, context, head, smoothing), each over every bank variant
# (mean ± std), the banks built before normality-aware construction (NA off) and the all-off
# baseline; then vad's default preset. See docs/evaluation.md and docs/quality.md.
#
#   scripts/reproduce_xd_violence.sh XD_TEST_DIR ANNOTATIONS [OUT] [extra `vad eval` options...]
#
# XD_TEST_DIR holds the test videos (*.mp4, names carrying their label_XX code) directly inside;
# ANNOTATIONS is the test set's annotations.txt (violent videos only: name s1 e1 s2 e2 ...).
# Environment overrides:
#   MODELS          encoders, MODEL:PRETRAINED each (default "ViT-B-16:openai
#                   PE-Core-L-14-336:meta")
#   BANKS           the bank variants (default "xd-violence xd-violence-b xd-violence-c")
#   PREVIOUS_BANKS  banks without NA (default prompts/previous/xd-violence.yaml; empty: none)
#   DEFAULT_PRESET  0: skip the default preset's run
#   SAMPLE_FPS      (default 1.875: 1 frame in 16 at 30 fps), PYTHON (default python)
# Exit status 0 and the last line "reproduction finished: ..." only when every run produced
# its result; a crash, a missing vad or a run without result stops it with status != 0.
set -euo pipefail

videos=${1:?usage: $0 XD_TEST_DIR ANNOTATIONS [OUT] [vad eval options...]}
ann=${2:?usage: $0 XD_TEST_DIR ANNOTATIONS [OUT] [vad eval options...]}
out=${3:-runs/xd-violence}
shift $(($# >= 3 ? 3 : 2))
extra=("$@")
python=${PYTHON:-python}
: "${BANKS:=xd-violence xd-violence-b xd-violence-c}"
: "${PREVIOUS_BANKS=prompts/previous/xd-violence.yaml}"
. "$(dirname "$0")/reproduce_common.sh"
check_vad
data=(--dataset xd-violence --annotations "$ann" --videos "$videos" --protocol xdviodet
      --sample-fps "${SAMPLE_FPS:-1.875}")

reproduce

cat "$out/summary.md"
echo
echo "XD-Violence reports AP first (ap_trapz next to the official code, ap next to VadCLIP)."
echo "NOVA (arXiv 2609.06360, PE-Core-L14-336, mean of 5 banks): AP 84.82 ± 0.56, AUC 95.07 ± 0.33;"
echo "without NA AP 82.40 ± 0.91, without anchor 72.96 ± 0.66, without motion gate 84.65 ± 1.35 (Table 2)"
echo "reproduction finished: $out/summary.md"
