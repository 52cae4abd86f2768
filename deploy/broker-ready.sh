# Sourced by the demo scripts: start_broker SEKISHOD CONFIG LOG starts the
# broker in the background (its pid in broker_pid) and returns once the
# broker has logged that it finished starting. A probe connection would
# only leave a "refuse" record in the trail. Fails, showing the log, if the
# broker exits or is not up within 10 s.
start_broker() {
	local sekishod=$1 config=$2 log=$3 before now
	touch "$log"
	before=$(grep -c 'level=info event=start ' "$log" || true)
	"$sekishod" -c "$config" 2>>"$log" &
	broker_pid=$!
	for _ in $(seq 1 100); do
		now=$(grep -c 'level=info event=start ' "$log" || true)
		[ "$now" -gt "$before" ] && return 0
		kill -0 "$broker_pid" 2>/dev/null || { cat "$log"; return 1; }
		sleep 0.1
	done
	echo "the broker did not start within 10 s" >&2
	tail -20 "$log" >&2
	return 1
}
