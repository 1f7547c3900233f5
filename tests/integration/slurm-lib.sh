# A throwaway single-node Slurm cluster for the integration tests: munged,
# slurmctld and slurmd started by hand (no systemd here), everything under
# one temp directory, every client pointed at it with SLURM_CONF, and the
# daemons stopped by pid when the test exits.
#
# slurm_start DIR: start the cluster in DIR (an empty directory); returns
# non-zero with a reason on stdout when it cannot (the caller skips).
# slurm_stop: stop what slurm_start started; run from an EXIT trap.
#
# Pitfalls met on the way, kept here so that the next person does not
# meet them again:
# - munged refuses to run as root without --force, and refuses a key
#   file that others can read: the key is mode 0400.
# - munged must be told its socket, pid file, log file and seed file, or
#   it uses /run/munge and /var/lib/munge, shared with any system munged;
#   clients find the socket through AuthInfo=socket=... in slurm.conf.
# - Without systemd there is no cgroup setup for Slurm: proctrack/
#   linuxproc and task/none keep slurmd away from cgroups entirely.
# - slurmd registers the node as down after an unclean stop unless
#   ReturnToService=2; and it must be told its node name with -N when
#   the host's name does not resolve to 127.0.0.1.
# - The daemons are started with -D (foreground) in the background, so
#   their pids are the ones to kill; their -vvv logs are in DIR.
# shellcheck shell=bash

_slurm_pids=

slurm_free_port() {
	/usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

slurm_start() {
	local dir=$1
	local bin
	for bin in munged slurmctld slurmd sbatch srun squeue sinfo scontrol; do
		if ! command -v "$bin" >/dev/null 2>&1 &&
			! [ -x "/usr/sbin/$bin" ]; then
			echo "no $bin: install slurm-wlm and munge"
			return 1
		fi
	done
	[ "$(id -u)" = 0 ] || {
		echo "starting slurmd needs root"
		return 1
	}
	local host cpus mem ctld_port d_port
	host=$(hostname -s)
	# At least 8 CPUs, so that 8 array tasks run at once on a small
	# machine (config_overrides lets slurmd believe the config).
	cpus=$(nproc)
	[ "$cpus" -ge 8 ] || cpus=8
	mem=$(awk '/MemTotal/ { printf "%d", $2 / 1024 / 2 }' /proc/meminfo)
	ctld_port=$(slurm_free_port)
	d_port=$(slurm_free_port)
	while [ "$d_port" = "$ctld_port" ]; do d_port=$(slurm_free_port); done
	mkdir -p "$dir/munge" "$dir/state" "$dir/spool" || return 1
	chmod 700 "$dir/munge"
	dd if=/dev/urandom bs=1 count=1024 of="$dir/munge/key" 2>/dev/null
	chmod 400 "$dir/munge/key"
	PATH=/usr/sbin:$PATH munged --force \
		--key-file="$dir/munge/key" \
		--socket="$dir/munge/socket" \
		--pid-file="$dir/munge/pid" \
		--log-file="$dir/munge/log" \
		--seed-file="$dir/munge/seed" || {
		echo "munged does not start; see $dir/munge/log"
		return 1
	}
	_slurm_pids="$(cat "$dir/munge/pid")"
	cat >"$dir/slurm.conf" <<EOF
ClusterName=xruntest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
SchedulerTimeSlice=5
MessageTimeout=10
SlurmdTimeout=30
InactiveLimit=0
KillWait=2
MaxArraySize=1001
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
	export SLURM_CONF=$dir/slurm.conf
	/usr/sbin/slurmctld -D -i -vvv -f "$SLURM_CONF" \
		>"$dir/slurmctld.out" 2>&1 &
	_slurm_pids="$_slurm_pids $!"
	/usr/sbin/slurmd -D -vvv -N "$host" -f "$SLURM_CONF" \
		>"$dir/slurmd.out" 2>&1 &
	_slurm_pids="$_slurm_pids $!"
	local i state
	for i in $(seq 150); do
		state=$(sinfo -h -o %t 2>/dev/null)
		case $state in idle*) return 0 ;; esac
		sleep 0.2
	done
	echo "the node is not idle after 30s (sinfo: '$state'); see $dir/*.log"
	return 1
}

slurm_stop() {
	local p
	[ -n "$_slurm_pids" ] || return 0
	# The reverse order: slurmd, slurmctld, munged.
	for p in $(echo "$_slurm_pids" | tr ' ' '\n' | tac); do
		kill "$p" 2>/dev/null
	done
	for p in $_slurm_pids; do
		for _ in $(seq 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$p" 2>/dev/null
	done
	_slurm_pids=
}

# slurm_wait_job JOBID [TIMEOUT_S]: poll squeue until the job (every task
# of an array) has left the queue.
slurm_wait_job() {
	local job=$1 t=${2:-60} i
	for i in $(seq $((t * 5))); do
		[ -z "$(squeue -h -j "$job" -o %i 2>/dev/null)" ] && return 0
		sleep 0.2
	done
	return 1
}
