#!/usr/bin/env bash
# Start a one-node SLURM cluster on loopback: munged (as user munge), slurmctld, slurmd -N localhost.
# Usage: start-cluster.sh DIR   (DIR receives slurm.conf, state, logs and pid files)
# Needs root and Debian's slurm-wlm + munge. Jobs read /etc/slurm/slurm.conf (the Snakemake SLURM plugin
# drops SLURM_CONF inside jobs), so that path becomes a symlink to DIR/slurm.conf; an existing regular file
# there is refused rather than replaced. Prints "started" when the node is idle; stop with stop-cluster.sh DIR.
set -euo pipefail
dir="$(realpath "$1")"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$dir/state" "$dir/spool"

if [ -e /etc/slurm/slurm.conf ] && [ ! -L /etc/slurm/slurm.conf ]; then
    echo "error: /etc/slurm/slurm.conf is a real file; refusing to replace it" >&2
    exit 1
fi
cpus="$(nproc)"
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
sed -e "s|@DIR@|$dir|g" -e "s|@CPUS@|$cpus|g" -e "s|@MEM_MB@|$mem_mb|g" \
    -e "s|@CTLD_PORT@|${PRIMUS_TEST_SLURMCTLD_PORT:-6817}|g" -e "s|@SLURMD_PORT@|${PRIMUS_TEST_SLURMD_PORT:-6818}|g" \
    "$here/slurm.conf.in" > "$dir/slurm.conf"
mkdir -p /etc/slurm
ln -sfn "$dir/slurm.conf" /etc/slurm/slurm.conf

# munged: reuse a running one, else start it (socket folder mode 711 so every user can reach it).
if ! munge -n </dev/null >/dev/null 2>&1; then
    install -d -o munge -g munge -m 711 /run/munge
    install -d -o munge -g munge -m 700 /var/lib/munge /var/log/munge
    runuser -u munge -- munged
    touch "$dir/started-munged"
fi

slurmctld
slurmd -N localhost
for _ in $(seq 1 60); do
    if [ "$(sinfo -h -n localhost -o %t 2>/dev/null)" = "idle" ]; then
        echo started
        exit 0
    fi
    sleep 0.5
done
echo "error: the SLURM node did not become idle within 30 s; see $dir/slurmctld.log and $dir/slurmd.log" >&2
sinfo >&2 || true
exit 1
