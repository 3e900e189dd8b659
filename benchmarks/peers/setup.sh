#!/usr/bin/env bash
# Create benchmarks/peers/.venv with what the PyTorch peer (torch_lora_step.py) needs: torch
# (CPU-only when such a wheel can be found), transformers, peft, safetensors, numpy, at the
# versions README.md reports. Python is never a dependency of nls or of its tests: only the peer
# benchmark uses this environment.
#
#   bash benchmarks/peers/setup.sh
#
# Environment:
#   PYTHON            interpreter that creates the venv (default python3; 3.10 or newer)
#   TORCH_VERSION     torch release (default 2.13.0)
#   TORCH_INDEX_URL   an extra index with CPU-only torch wheels (PyTorch's CPU wheel index), for
#                     a "+cpu" wheel without the CUDA libraries PyPI's Linux wheel depends on
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"
torch_version="${TORCH_VERSION:-2.13.0}"

"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "python 3.10 or newer is needed, found " + sys.version)'
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --disable-pip-version-check)

# A CPU-only wheel first ("+cpu" local version: from TORCH_INDEX_URL, or from wheels pip is
# configured to find); otherwise PyPI's default wheel, which on Linux also pulls in the CUDA
# libraries (several GB) that a CPU run never loads.
if ! "${pip[@]}" ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} "torch==${torch_version}+cpu"; then
  echo "setup.sh: no CPU-only torch ${torch_version} wheel found; installing PyPI's torch ${torch_version} (with CUDA libraries)" >&2
  "${pip[@]}" "torch==${torch_version}"
fi
"${pip[@]}" "transformers==5.18.0" "peft==0.21.0" "safetensors==0.8.0" numpy

"$venv/bin/python" - <<'PY'
import peft, safetensors, torch, transformers
print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, safetensors {safetensors.__version__}")
PY
echo "ready: $venv/bin/python $here/torch_lora_step.py --model models/demo"
