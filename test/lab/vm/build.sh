#!/bin/bash
# Builds (once, cached outside the repo) the kernel + initramfs the IPVS lab VM boots; prints the paths as KEY=VALUE lines.
# Idempotent: a finished build is reused as long as the kernel package and the files that make up
# the initramfs are unchanged. Concurrent callers serialise on a lock in the cache directory.
#   VIP_MGMT_LAB_CACHE   cache directory (default /var/cache/vip-mgmt-lab)
#   VIP_MGMT_LAB_KERNEL  kernel package to use (default: newest linux-image-6.1.0-N-amd64-unsigned)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${VIP_MGMT_LAB_CACHE:-/var/cache/vip-mgmt-lab}
log() { echo "vip-lab build: $*" >&2; }
die() { log "$*"; exit 1; }

for tool in apt-get apt-cache dpkg depmod modprobe cpio gzip flock sha256sum; do
  command -v "$tool" >/dev/null || die "missing $tool"
done
busybox=$(command -v busybox) || die "missing busybox (apt-get install busybox-static)"
# A dynamically linked busybox would need its libraries inside the initramfs.
if file -L "$busybox" 2>/dev/null | grep -q 'dynamically linked'; then
  die "$busybox is dynamically linked; install busybox-static"
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

# The stock (non-cloud) flavour: it has 9p, virtio, ip_vs and veth as modules.
pkg=${VIP_MGMT_LAB_KERNEL:-}
if [ -z "$pkg" ]; then
  pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' 2>/dev/null |
    awk '{print $1}' | sort -V | tail -n 1)
fi
if [ -z "$pkg" ] && [ -f "$cache/current.env" ]; then
  # No package lists (apt-get update never ran): keep using the last good build.
  log "apt knows no linux-image-6.1.0-*-amd64-unsigned; reusing the cached build"
  cat "$cache/current.env"
  exit 0
fi
[ -n "$pkg" ] || die "apt knows no linux-image-6.1.0-*-amd64-unsigned package (run apt-get update)"
kver=${pkg#linux-image-}
kver=${kver%-unsigned}

# Everything that ends up in the initramfs, so that editing init.sh rebuilds it.
stamp=$( { echo "$pkg"; sha256sum "$here/build.sh" "$here/init.sh" "$here/stage2.sh" "$busybox" | awk '{print $1}'; } | sha256sum | awk '{print $1}')
out="$cache/$kver"
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] && [ -f "$cache/current.env" ] &&
  grep -qx "KVER=$kver" "$cache/current.env"; then
  cat "$cache/current.env"
  exit 0
fi

log "building $pkg into $out"
work="$cache/.build.$$"
rm -rf "$work"
mkdir -p "$work/deb"
trap 'rm -rf "$work"' EXIT

deb=$(ls "$cache"/debs/"${pkg}"_*.deb 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$deb" ]; then
  mkdir -p "$cache/debs"
  # Sandbox user root: the cache directory is root's, _apt could not write there.
  (cd "$work/deb" && apt-get -q -o APT::Sandbox::User=root download "$pkg" >&2) || die "apt-get download $pkg failed"
  mv "$work"/deb/*.deb "$cache/debs/"
  deb=$(ls "$cache"/debs/"${pkg}"_*.deb | sort -V | tail -n 1)
fi

root="$work/root"
dpkg -x "$deb" "$root"
[ -d "$root/lib/modules/$kver" ] || die "$deb has no lib/modules/$kver"
depmod -b "$root" "$kver"

# Modules the initramfs loads before the script runs: what mounting the root needs, IPVS with
# every scheduler (so ipvsadm never depends on auto-loading), and the usual lab network devices.
# Anything else is modprobe'd inside the VM from the bind-mounted module tree.
want="virtio_pci 9pnet_virtio 9p overlay virtio_rng veth dummy ip_vs"
for ko in "$root/lib/modules/$kver"/kernel/net/netfilter/ipvs/ip_vs_*.ko; do
  m=$(basename "$ko" .ko)
  case "$m" in ip_vs_ftp|ip_vs_pe_sip) continue ;; esac # helpers, not schedulers
  want="$want $m"
done

ird="$work/initrd"
mkdir -p "$ird"/{bin,dev,proc,sys,tmp,etc,lib/modules/"$kver"}
: >"$ird/etc/modules.load"
for m in $want; do
  # "insmod /path/x.ko opts" lines in load order; "builtin x" lines need nothing.
  modprobe -d "$root" -S "$kver" -C /dev/null --show-depends "$m" | while read -r kind path opts; do
    [ "$kind" = insmod ] || continue
    rel=${path#"$root/lib/modules/$kver/"}
    if ! awk -v r="$rel" '$1 == r { found = 1 } END { exit !found }' "$ird/etc/modules.load"; then
      mkdir -p "$ird/lib/modules/$kver/$(dirname "$rel")"
      cp "$path" "$ird/lib/modules/$kver/$rel"
      # No stray dummy0: tests create the dummy interfaces they want.
      [ "$rel" = kernel/drivers/net/dummy.ko ] && opts="numdummies=0"
      echo "$rel $opts" >>"$ird/etc/modules.load"
    fi
  done
done
cp "$busybox" "$ird/bin/busybox"
install -m 0755 "$here/init.sh" "$ird/init"
install -m 0644 "$here/stage2.sh" "$ird/stage2.sh"
cat >"$ird/etc/lab.conf" <<CONF
KVER=$kver
MODTREE=$out/root/lib/modules/$kver
CONF
(cd "$ird" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$work/initrd.gz"

rm -rf "$out"
mkdir -p "$out"
mv "$root" "$out/root"
cp "$out/root/boot/vmlinuz-$kver" "$out/vmlinuz"
mv "$work/initrd.gz" "$out/initrd.gz"
cp "$ird/etc/modules.load" "$out/modules.load"
echo "$stamp" >"$out/stamp"
cat >"$cache/current.env.tmp" <<ENV
KVER=$kver
PACKAGE=$pkg
VMLINUZ=$out/vmlinuz
INITRD=$out/initrd.gz
MODTREE=$out/root/lib/modules/$kver
ENV
mv "$cache/current.env.tmp" "$cache/current.env"
log "built $out ($(wc -l <"$out/modules.load") modules in the initramfs)"
cat "$cache/current.env"
