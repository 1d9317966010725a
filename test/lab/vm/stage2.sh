# Runs as pid 1 inside the chrooted overlay root: runs the lab script, prints the exit marker, powers off.
# The marker line is what the host parses; the rc file is a second witness if the console is lossy.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8 VM_OUT=/run/vip-lab/out VIP_LAB_VM=1
cd /
[ -f /run/vip-lab/env.sh ] && . /run/vip-lab/env.sh
cd "${LAB_CWD:-/}" 2>/dev/null || cd /
echo "@@vip-lab-start@@"
/bin/sh /run/vip-lab/script.sh </dev/null
rc=$?
echo "$rc" >/run/vip-lab/rc
echo "@@vip-lab-exit:$rc@@"
sync
/bin/busybox poweroff -f
