#!/usr/bin/env bash
# Start a SLURM cluster on loopback: munged (as user munge), slurmctld, and one slurmd per node
# (`slurmd -N n1`, `-N n2`, ... each on its own port, all on this host), so multi-node jobs are real.
# Usage: start-cluster.sh DIR [NODES]   (DIR receives slurm.conf, state, logs and pid files; NODES default 2)
# Needs root and Debian's slurm-wlm + munge. Jobs read /etc/slurm/slurm.conf (the Snakemake SLURM plugin
# drops SLURM_CONF inside jobs), so that path becomes a symlink to DIR/slurm.conf; an existing regular file
# there is refused rather than replaced. Prints "started" when the node is idle; stop with stop-cluster.sh DIR.
set -euo pipefail
dir="$(realpath "$1")"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
nodes="${2:-2}"
mkdir -p "$dir/state"

if [ -e /etc/slurm/slurm.conf ] && [ ! -L /etc/slurm/slurm.conf ]; then
    echo "error: /etc/slurm/slurm.conf is a real file; refusing to replace it" >&2
    exit 1
fi
# Another test cluster (another checkout's test session) owns the symlink while its slurmctld runs: exit 3
# ("busy") instead of taking over its ports and its jobs' slurm.conf; the fixture waits and retries.
if [ -L /etc/slurm/slurm.conf ]; then
    other="$(dirname "$(readlink /etc/slurm/slurm.conf)")"
    if [ "$other" != "$dir" ] && [ -f "$other/slurmctld.pid" ] && kill -0 "$(cat "$other/slurmctld.pid")" 2>/dev/null; then
        echo "busy: the test cluster in $other is running" >&2
        exit 3
    fi
fi
cpus="$(nproc)"
# Every node gets this host's cores (the nodes share them) and an equal part of half its memory.
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 / nodes ))
first_port="${PRIMUS_TEST_SLURMD_PORT:-6818}"
node_lines=""
names=""
for i in $(seq 1 "$nodes"); do
    node_lines+="NodeName=n$i NodeHostname=localhost NodeAddr=127.0.0.1 Port=$((first_port + i - 1)) CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN\n"
    names+="${names:+,}n$i"
done
sed -e "s|@DIR@|$dir|g" -e "s|@NODES@|$nodes|g" -e "s|@NODE_LINES@|${node_lines%\\n}|" -e "s|@NODE_NAMES@|$names|g" \
    -e "s|@CTLD_PORT@|${PRIMUS_TEST_SLURMCTLD_PORT:-6817}|g" \
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
for i in $(seq 1 "$nodes"); do
    slurmd -N "n$i"
done
for _ in $(seq 1 60); do
    if [ "$(sinfo -h -o %t 2>/dev/null | sort -u)" = "idle" ] && [ "$(sinfo -h -o %D 2>/dev/null)" = "$nodes" ]; then
        echo started
        exit 0
    fi
    sleep 0.5
done
echo "error: the $nodes SLURM nodes did not become idle within 30 s; see $dir/slurmctld.log and $dir/slurmd-n*.log" >&2
sinfo >&2 || true
exit 1
