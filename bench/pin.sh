# Sourced by the benchmark scripts: where the platform and its load
# generators run on this machine's cores.
#
# By default everything shares every core, as on a developer's machine: the
# load generator's CPU is the platform's too, and when answers slow down the
# connections it opens cost the platform more (bench/results/capacity.md,
# twenty-fourth round). With PLATFORM_CPUS and LOADGEN_CPUS set (taskset CPU
# lists, such as 0 and 1), the platform's processes and the servers it uses
# (PostgreSQL, Redis, RabbitMQ, already running: every thread of theirs,
# restored to every core on exit) run on the first, and the load generators
# on the second: a client with a CPU of its own, as one on another machine
# has, in front of a smaller platform (split mode at three times its rate held
# so, and collapsed with both on one core: the twenty-fifth round).
# LOADGEN_NICE (default 0) is the load generators' niceness.
#
# It sets on_platform and on_loadgen, the words to put before a command to
# run it where each belongs (arrays: a command run in the background with
# them is still its own process, $!), and defines unpin_servers, for the
# caller's exit trap.
on_platform=()
on_loadgen=(nice -n "${LOADGEN_NICE:-0}")
unpin_servers() { :; }
if [ -n "${PLATFORM_CPUS:-}" ] && [ -n "${LOADGEN_CPUS:-}" ]; then
	on_platform=(taskset -c "$PLATFORM_CPUS")
	on_loadgen=(taskset -c "$LOADGEN_CPUS" "${on_loadgen[@]}")
	# pin_servers sets the CPU list of every thread of the data servers;
	# PostgreSQL's backends for new connections inherit the postmaster's.
	pin_servers() {
		local pid
		for pid in $(pgrep -x 'postgres|redis-server|beam.smp'); do
			taskset -a -cp "$1" "$pid" >/dev/null 2>&1 || true # it may have exited
		done
	}
	unpin_servers() { pin_servers "0-$(($(nproc) - 1))"; }
	pin_servers "$PLATFORM_CPUS"
fi
