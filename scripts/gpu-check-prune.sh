#!/usr/bin/env bash
# What the GPU check needs of the working tree, and a reversible prune of the rest, so that the
# tree the `device` tool sends stays under its 64 MiB (the fixtures alone are ~60 MB):
#   scripts/gpu-check-prune.sh list      the files the check needs (besides the .gpu-check kit)
#   scripts/gpu-check-prune.sh apply     untrack and ignore every other file (the files stay on disk)
#   scripts/gpu-check-prune.sh restore   the index back from HEAD, the ignore lines removed
# Nothing pruned is ever committed: restore right after the device run.
set -euo pipefail
cd "$(dirname "$0")/.."
marker='# sgi gpu-check prune'
keep() {
  git ls-files --cached --others --exclude-standard -- scripts/gpu-check.sh scripts/gpu-check.mjs scripts/gpu-check-prune.sh \
    packages/native-cuda/CMakeLists.txt packages/native-cuda/src
}
case "${1:-}" in
  list) keep ;;
  apply)
    grep -qF "$marker" .git/info/exclude 2>/dev/null && { echo "already pruned (run restore first)"; exit 1; }
    git diff --cached --quiet || { echo "staged changes would be lost by restore: commit them first"; exit 1; }
    keep | sort > /tmp/sgi-keep.txt
    git ls-files | sort | comm -23 - /tmp/sgi-keep.txt > /tmp/sgi-prune.txt
    { echo "$marker"; sed 's|^|/|' /tmp/sgi-prune.txt; echo "$marker end"; } >> .git/info/exclude
    xargs -a /tmp/sgi-prune.txt -d '\n' git rm -q --cached --
    echo "pruned $(wc -l < /tmp/sgi-prune.txt) files from the index; travelling: $(keep | xargs du -cb | tail -1 | cut -f1) bytes + the kit"
    ;;
  restore)
    git reset -q
    sed -i "/^$marker\$/,/^$marker end\$/d" .git/info/exclude
    echo "index restored from HEAD; git status:"; git status --short | head
    ;;
  *) echo "usage: $0 list | apply | restore"; exit 2 ;;
esac
