#!/usr/bin/env bash
# Edit the example logos and icons of this folder with the embedded prior (offline, CPU).
#
#   bash examples/edit_examples.sh [OUT_FOLDER] [extra vecdistill edit options...]
#
# Each edit writes OUT/NAME.svg, OUT/NAME.json (the manifest) and OUT/NAME.png (a render).
# With a Stable Diffusion model, add e.g. --model runwayml/stable-diffusion-v1-5 --device cuda.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/out"}
shift || true
mkdir -p "$out"

run() {  # run NAME INPUT SOURCE TARGET [options...]
  local name=$1 input=$2 source=$3 target=$4
  shift 4
  vecdistill edit "$here/$input" "$out/$name.svg" --source "$source" --target "$target" --overwrite --quiet "$@"
  vecdistill render "$out/$name.svg" "$out/$name.png" --size 128 --overwrite
}

run heart-to-green    twemoji-red-heart.svg     "red heart" "green heart" "$@"
run apple-to-green    twemoji-red-apple.svg     "red apple" "green apple" "$@"
run star-to-glowing   twemoji-star.svg          "star"      "glowing star" "$@"
run outline-to-red    tabler-heart-outline.svg  "black heart" "red heart" "$@"
run logo-colour-only  simple-icons-apple.svg    "red apple" "green apple" --lock-geometry "$@"
