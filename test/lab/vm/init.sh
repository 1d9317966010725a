#!/bin/busybox sh
# /init of the lab initramfs: load modules, mount the host root read-only over 9p under a tmpfs overlay, chroot into it.
# Runs as pid 1 from the initramfs. Anything going wrong here must still end in a marker line and
# a power-off, so the host never waits for its timeout to learn that the VM could not start.
/bin/busybox --install -s /bin
export PATH=/bin

fail() {
  echo "vip-lab init: $*" >/dev/console
  echo "@@vip-lab-exit:125@@" >/dev/console
  poweroff -f
  sleep 5
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
. /etc/lab.conf

# Module list computed at build time by `modprobe --show-depends` (dependency order, deduplicated).
# A failure is logged and tolerated: crc32c-intel needs SSE4.2, a module may already be loaded.
while read -r ko opts; do
  [ -n "$ko" ] || continue
  # shellcheck disable=SC2086 # module options are meant to split
  insmod "/lib/modules/$KVER/$ko" $opts 2>>/tmp/insmod.log || echo "insmod $ko failed" >>/tmp/insmod.log
done </etc/modules.load

mkdir -p /lower /rw /newroot
# cache=loose: the lower root is read-only for the life of the VM, so caching metadata and pages
# in the guest is safe and makes node/tsx start several times faster than cache=none.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /lower ||
  { cat /tmp/insmod.log; fail "cannot mount the host root over 9p"; }
mount -t tmpfs -o mode=0755 tmpfs /rw || fail "cannot mount the overlay tmpfs"
mkdir -p /rw/upper /rw/work
# index/xino off: the lower layer is 9p, which cannot carry overlay's file handles.
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work,index=off,xino=off,redirect_dir=off,metacopy=off /newroot ||
  fail "cannot mount the overlay"

R=/newroot
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm
mount -t tmpfs -o mode=0755 tmpfs $R/run
mount -t tmpfs -o mode=1777 tmpfs $R/tmp
mount -t tmpfs -o mode=1777 tmpfs $R/var/tmp
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup 2>/dev/null
# /run/netns for `ip netns add`; /var/run is a symlink to /run on Debian.
mkdir -p $R/run/netns $R/run/lock $R/run/vip-lab $R/run/frr
# The rw exchange directory of this run (script, env, results) from the host.
mount -t 9p -o trans=virtio,version=9p2000.L,rw,cache=none,msize=512000 labio $R/run/vip-lab ||
  fail "cannot mount the lab exchange directory"
# A checkout below a directory mounted fresh here (/tmp, /var/tmp...) comes as its own read-only 9p
# share, under a writable overlay of its own, at the same path as on the host.
if [ -f $R/run/vip-lab/checkout.path ]; then
  CO=$(cat $R/run/vip-lab/checkout.path)
  mkdir -p /rw/co-lower /rw/co-upper /rw/co-work "$R$CO"
  mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 checkout /rw/co-lower ||
    fail "cannot mount the checkout $CO"
  mount -t overlay overlay -o lowerdir=/rw/co-lower,upperdir=/rw/co-upper,workdir=/rw/co-work,index=off,xino=off,redirect_dir=off,metacopy=off "$R$CO" ||
    fail "cannot mount the overlay of the checkout $CO"
fi
# Every module of this kernel for modprobe inside (the host root has only its own kernel's).
mkdir -p "$R/lib/modules/$KVER"
mount --bind "$R$MODTREE" "$R/lib/modules/$KVER" || echo "vip-lab init: no module tree at $MODTREE" >/dev/console
echo /sbin/modprobe >/proc/sys/kernel/modprobe

hostname vip-lab
ip link set lo up
cp /stage2.sh $R/run/vip-lab-stage2.sh
cp /tmp/insmod.log $R/run/vip-lab-insmod.log 2>/dev/null
# chroot as pid 1 (exec) so that the kernel's module auto-loading runs /sbin/modprobe in the new root.
exec chroot $R /bin/busybox sh /run/vip-lab-stage2.sh
fail "chroot failed"
