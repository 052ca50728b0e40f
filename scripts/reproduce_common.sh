# Shared by scripts/reproduce_ucf_crime.sh and scripts/reproduce_xd_violence.sh (sourced, not
# run): the NOVA reproduction and its one-piece-off ablation for every encoder, from one
# encoding pass per encoder, and the checks that make a broken run fail loudly.
#
# The caller sets: python, out, data (an array of `vad eval` dataset options) and extra (an
# array of the user's extra `vad eval` options); the environment may set MODELS, BANKS,
# PREVIOUS_BANKS (see the callers' headers).

# check_vad: the interpreter must import vad, or nothing below can run.
check_vad() {
    if ! "$python" -c 'import vad' >/dev/null 2>&1; then
        echo "error: '$python' cannot import vad: install it (python -m pip install -e . in the" \
             "repository) or set PYTHON=/path/to/python; nothing was run" >&2
        exit 1
    fi
}

# check_result DIR STATUS WANT_SUMMARY: print one table row when DIR holds a finished result
# of the `vad eval` that just exited with STATUS; otherwise explain on stderr and fail.
check_result() {
    "$python" - "$@" <<'EOF'
import json
import sys
from pathlib import Path

folder, status, want_summary = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"


def fail(why):
    print(f"error: {folder}: {why}", file=sys.stderr)
    sys.exit(1)


try:
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
except (OSError, ValueError) as exc:
    fail(f"vad eval exited {status} without writing metrics.json ({exc}): it crashed")
excluded = len(metrics.get("missing", [])) + len(metrics.get("failed", []))
if status == 1 and not excluded:
    fail("vad eval exited 1 but names no missing or failed video: it crashed")
if status not in (0, 1):
    fail(f"vad eval exited {status}")
if metrics.get("auc") is None and metrics.get("ap") is None:
    fail("no AUC or AP: no video could be scored")
if want_summary:
    try:
        summary = json.loads((folder / "ablation_summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"the ablation did not finish (no ablation_summary.json: {exc})")
    if not summary or summary[0].get("auc_mean") is None:
        fail("the ablation produced no result")
if excluded:
    print(f"warning: {folder}: {excluded} listed videos excluded (see metrics.json)",
          file=sys.stderr)


def pct(value):
    return "n/a" if value is None else f"{100 * value:.2f}"


s = metrics["settings"]
print(f"| {folder.name} | {s['model']} | {s['prompts']} | {s['context']} | {s['head']} "
      f"| {s['anchor']} | {s['motion_gate']} | {s['refine']} | {metrics['num_videos']} "
      f"| {pct(metrics['auc'])} | {pct(metrics['ap'])} | {pct(metrics['ap_trapz'])} |")
EOF
}

# run_eval DIR [vad eval options...]: one `vad eval` writing into DIR; the script stops unless
# it produced a result. vad eval's exit 1 (listed videos missing or undecodable, named in
# metrics.json) still yields metrics over the rest; a crash, a usage error (exit 2) or no
# scored video stops everything.
run_eval() {
    local dir=$1
    shift
    local want_summary=0 arg status=0
    for arg in "$@"; do
        if [ "$arg" = "--ablate-pieces" ]; then want_summary=1; fi
    done
    rm -f "$dir/metrics.json" "$dir/ablation.json" "$dir/ablation_summary.json" \
          "$dir/ablation_summary.md"
    "$python" -m vad eval --out "$dir" "$@" || status=$?
    if [ "$status" -ge 2 ]; then
        echo "error: vad eval exited $status (see above); no result in $dir" >&2
        exit "$status"
    fi
    check_result "$dir" "$status" "$want_summary" >>"$out/runs.md"
}

# reproduce: for every MODELS entry (MODEL:PRETRAINED, split at the last colon), NOVA's recipe
# (configs/nova.yaml) on this encoder with the ablation over BANKS and PREVIOUS_BANKS; then,
# unless DEFAULT_PRESET=0, the default preset (context auto, default bank) on the first
# encoder, re-scored from the cache. Writes $out/runs.md and $out/summary.md.
reproduce() {
    local models=${MODELS:-"ViT-B-16:openai PE-Core-L-14-336:meta"}
    local -a banks previous
    read -r -a banks <<<"$BANKS"
    read -r -a previous <<<"${PREVIOUS_BANKS-}"
    if [ "${#banks[@]}" -eq 0 ]; then
        echo "error: BANKS names no prompt bank" >&2
        exit 2
    fi
    mkdir -p "$out"
    {
        echo "| run | model | bank | context | head | anchor | motion gate | refine | videos" \
             "| AUC | AP | AP (trapezoid) |"
        echo "|---|---|---|---|---|---|---|---|---:|---:|---:|---:|"
    } >"$out/runs.md"
    local entry model tag name first_model="" first_tag="" dirs=()
    for entry in $models; do
        if [ "${entry%:*}" = "$entry" ]; then
            echo "error: MODELS entry '$entry' is not MODEL:PRETRAINED" >&2
            exit 2
        fi
        model=${entry%:*}
        tag=${entry##*:}
        name=$(printf '%s' "$model" | tr -c 'A-Za-z0-9._-' '_')
        name=${name#local-dir_}
        if [ -z "$first_model" ]; then first_model=$model first_tag=$tag; fi
        echo "== NOVA's recipe and its ablation: $model ($tag)" >&2
        run_eval "$out/nova-$name" "${data[@]}" --config nova --model "$model" \
            --pretrained "$tag" --prompts "${banks[0]}" --ablate-pieces \
            --ablate-prompts "${banks[@]}" \
            ${previous[@]+--ablate-previous-prompts "${previous[@]}"} \
            ${extra[@]+"${extra[@]}"}
        dirs+=("$out/nova-$name")
    done
    if [ -z "$first_model" ]; then
        echo "error: MODELS names no model" >&2
        exit 2
    fi
    if [ "${DEFAULT_PRESET:-1}" != 0 ]; then
        echo "== the default preset (context auto, default bank): $first_model" >&2
        run_eval "$out/default-preset" "${data[@]}" --config default --model "$first_model" \
            --pretrained "$first_tag" ${extra[@]+"${extra[@]}"}
    fi
    {
        echo "# Reproduction: NOVA's recipe, one piece off in turn, per encoder"
        echo
        echo "Runs (the main metrics of each \`vad eval\`):"
        echo
        cat "$out/runs.md"
        local dir
        for dir in "${dirs[@]}"; do
            echo
            sed 's/^# /## /' "$dir/ablation_summary.md"
        done
    } >"$out/summary.md"
}
