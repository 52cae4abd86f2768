# Sourced by the demo and benchmark scripts (run from the repository's top
# directory): starting the local "specified cloud" and the broker, each
# bounded, each showing its log when it fails.

# start_cloud DIR PORT CERT KEY ROOT: nginx serving WebDAV over HTTPS on
# 127.0.0.1:PORT from ROOT (deploy/nginx-webdav.conf.in), its own files under
# DIR; its pid in nginx_pid. Returns once it accepts connections (10 s).
start_cloud() {
	local dir=$1 port=$2 cert=$3 key=$4 root=$5 nginx_bin
	nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
	mkdir -p "$dir" "$root"
	sed -e "s|@PREFIX@|$dir|g" -e "s|@ROOT@|$root|g" \
	    -e "s|@PORT@|$port|g" -e "s|@CERT@|$cert|g" -e "s|@KEY@|$key|g" \
	    deploy/nginx-webdav.conf.in >"$dir/nginx.conf"
	"$nginx_bin" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" &
	nginx_pid=$!
	for _ in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		kill -0 "$nginx_pid" 2>/dev/null || { cat "$dir/error.log"; return 1; }
		sleep 0.1
	done
	echo "nginx did not accept on 127.0.0.1:$port within 10 s" >&2
	return 1
}

# start_broker SEKISHOD CONFIG LOG starts the broker in the background (its
# pid in broker_pid) and returns once the broker has logged that it finished
# starting. A probe connection would only leave a "refuse" record in the
# trail. Fails, showing the log, if the broker exits or is not up within
# 10 s.
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
