#!/usr/bin/env bash
# Stop what start-cluster.sh DIR started: every slurmd and slurmctld (by their pid files), munged only when
# start-cluster.sh started it, and the /etc/slurm/slurm.conf symlink when it still points into DIR.
set -uo pipefail
dir="$(realpath "$1")"
SLURM_CONF="$dir/slurm.conf" scontrol shutdown >/dev/null 2>&1
for pidfile in "$dir"/slurmd-*.pid "$dir/slurmctld.pid"; do
    pid="$(cat "$pidfile" 2>/dev/null)" || continue
    for _ in $(seq 1 40); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    kill "$pid" 2>/dev/null
done
if [ -e "$dir/started-munged" ]; then
    munged --stop >/dev/null 2>&1 || runuser -u munge -- munged --stop >/dev/null 2>&1
    rm -f "$dir/started-munged"
fi
if [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$dir/slurm.conf" ]; then
    rm -f /etc/slurm/slurm.conf
fi
exit 0
