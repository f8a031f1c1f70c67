#!/usr/bin/env bash
# Assembles the image's root filesystem from a built binary: the binary, the
# shared libraries it links, glibc's name-service modules (peers are found
# by DNS name in Compose and Kubernetes), and an unprivileged user.
# Used by both Dockerfile paths, so they produce the same image.
#   docker/rootfs.sh target/release/boxoffice target/docker-rootfs
# Writes <dir>/root (owned by root in the image) and <dir>/writable (the
# /data volume, owned by the unprivileged user).
set -euo pipefail
bin=${1:?binary}
dir=${2:?output dir}
out=$dir/root

rm -rf "$dir"
mkdir -p "$out/usr/local/bin" "$out/etc" "$out/tmp" "$dir/writable/data"
cp "$bin" "$out/usr/local/bin/boxoffice"
strip "$out/usr/local/bin/boxoffice" 2>/dev/null || true

copy_lib() {
  local lib=$1
  mkdir -p "$out$(dirname "$lib")"
  cp -L "$lib" "$out$lib"
}
for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
  copy_lib "$lib"
done
for name in libnss_dns.so.2 libnss_files.so.2 libresolv.so.2; do
  lib=$(ldconfig -p | awk -v n="$name" '$1 == n && /x86-64|x86_64/ && !done { print $NF; done = 1 }')
  [ -n "$lib" ] && copy_lib "$lib"
done

cat > "$out/etc/nsswitch.conf" <<'NSS'
hosts: files dns
NSS
echo 'boxoffice:x:10001:10001:boxoffice:/data:/nonexistent' > "$out/etc/passwd"
echo 'boxoffice:x:10001:' > "$out/etc/group"
chmod 1777 "$out/tmp"
echo "rootfs ready in $dir ($(du -sh "$dir" | cut -f1))"
