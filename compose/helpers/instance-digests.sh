# Run by crates/engine/src/pacs_evidence.rs inside a PACS as root (see INSTANCE_DIGEST_SCRIPT).
set -o pipefail
netrc=$1 base=$2 keep=$3 dir=$4; shift 4
rm -rf "$dir" && mkdir -m 0700 "$dir" || exit 1
n=0
for id in "$@"; do
  tags=$(curl -sf --max-time 10 --max-filesize 1048576 --netrc-file "$netrc" "$base/instances/$id/simplified-tags" | tr -d '\n\t') || tags='{}'
  frame=$(curl -sf --max-time 10 --netrc-file "$netrc" "$base/instances/$id/frames/0/raw" | sha256sum | cut -d' ' -f1) || frame=
  kept=
  if [ "$n" -lt "$keep" ] && curl -sf --max-time 20 --max-filesize 33554432 --netrc-file "$netrc" -o "$dir/$id.dcm" "$base/instances/$id/file"; then
    kept=yes
  fi
  n=$((n + 1))
  printf '%s\t%s\t%s\t%s\n' "$id" "$frame" "$kept" "$tags"
done
