# docker.bash - a private dockerd (Debian's docker.io, 20.10) for a whole
# bats file, to compare edgectl with Docker's own builders.
#
#   setup_file()    { load ../lib/common; load ../lib/docker; docker_setup_file; }
#   teardown_file() { load ../lib/docker; docker_stop; }
#
# docker_start starts /usr/sbin/dockerd with its own --data-root,
# --exec-root, --pidfile, --config-file and socket (-H unix://...) in a new
# short dir under /tmp (containerd's socket path must stay under 108
# bytes), with --iptables=false --bridge=none (no host network changes), and
# waits until it answers. It exports
#   DOCKER_DIR    the daemon's dir (data/, exec/, sock, pid, dockerd.log)
#   DOCKER_HOST   unix://$DOCKER_DIR/sock
#   DOCKER        /usr/bin/docker: the docker.io client, never another
#                 docker on PATH (an unrelated client in /usr/local/bin would
#                 talk a newer API to this daemon)
#   DOCKER_CONFIG a private client config dir
# docker_stop sends SIGTERM to exactly the recorded dockerd PID (SIGKILL
# after 30 s), then its watchdog; lazily unmounts what is left under
# DOCKER_DIR and removes it. The watchdog stops the daemon if the bats
# process that started it dies (an interrupted run).
#
# dockerd missing (or not root): docker_setup_file fails with the reason
# when EDGECTL_STRICT=1 (CI: nothing skips silently); else it records the
# reason in DOCKER_MISSING and docker_require skips each test with it. A
# dockerd that is there but does not start always fails the file, with its
# log. DOCKERD overrides /usr/sbin/dockerd (to test those paths).

docker_start() {
	local owner=$BASHPID i
	export DOCKER_MISSING=
	local dockerd=${DOCKERD:-/usr/sbin/dockerd}
	if [ ! -x "$dockerd" ] || [ ! -x /usr/bin/docker ]; then
		DOCKER_MISSING="dockerd not installed (tests/lib/deps.sh installs docker.io)"
		return 77
	fi
	if [ "$(id -u)" != 0 ]; then
		DOCKER_MISSING="dockerd needs root"
		return 77
	fi
	DOCKER_DIR=$(mktemp -d /tmp/edk.XXXXXX) || return 1
	export DOCKER_DIR DOCKER=/usr/bin/docker
	export DOCKER_HOST="unix://$DOCKER_DIR/sock"
	export DOCKER_CONFIG="$DOCKER_DIR/client"
	mkdir -p "$DOCKER_CONFIG"
	echo '{}' >"$DOCKER_DIR/daemon.json"
	"$dockerd" --config-file "$DOCKER_DIR/daemon.json" \
		--data-root "$DOCKER_DIR/data" --exec-root "$DOCKER_DIR/exec" \
		--pidfile "$DOCKER_DIR/pid" -H "$DOCKER_HOST" \
		--iptables=false --ip-masq=false --ip-forward=false --bridge=none \
		--userland-proxy=false --storage-driver=overlay2 \
		>"$DOCKER_DIR/dockerd.log" 2>&1 </dev/null 3>&- &
	echo $! >"$DOCKER_DIR/dockerd.pid"
	(
		while kill -0 "$owner" 2>/dev/null; do sleep 2; done
		kill "$(cat "$DOCKER_DIR/dockerd.pid")" 2>/dev/null
	) >/dev/null 2>&1 </dev/null 3>&- &
	echo $! >"$DOCKER_DIR/watchdog.pid"
	for i in $(seq 150); do
		if ! kill -0 "$(cat "$DOCKER_DIR/dockerd.pid")" 2>/dev/null; then
			echo "docker_start: dockerd exited; its log:" >&2
			tail -20 "$DOCKER_DIR/dockerd.log" >&2
			return 1
		fi
		"$DOCKER" version >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "docker_start: dockerd did not answer in 30 s; its log:" >&2
	tail -20 "$DOCKER_DIR/dockerd.log" >&2
	return 1
}

docker_stop() {
	local pid i m
	[ -n "${DOCKER_DIR:-}" ] && [ -d "$DOCKER_DIR" ] || return 0
	pid=$(cat "$DOCKER_DIR/dockerd.pid" 2>/dev/null)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		for i in $(seq 150); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$pid" 2>/dev/null
	fi
	pid=$(cat "$DOCKER_DIR/watchdog.pid" 2>/dev/null)
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	# overlay and shm mounts a killed daemon left behind, deepest first
	while read -r m; do
		umount -l "$m" 2>/dev/null
	done < <(awk -v d="$DOCKER_DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
	rm -rf "$DOCKER_DIR"
	unset DOCKER_DIR
}

# For setup_file: start the daemon. A missing dockerd fails the file under
# EDGECTL_STRICT=1, with the reason, else the reason is remembered for
# docker_require; one that does not start fails the file.
docker_setup_file() {
	local rc=0
	docker_start || rc=$?
	if [ "$rc" = 77 ]; then
		if [ "${EDGECTL_STRICT:-}" = 1 ]; then
			echo "FAIL (EDGECTL_STRICT=1): $DOCKER_MISSING" >&2
			return 1
		fi
		echo "# $DOCKER_MISSING: the docker comparisons of $(basename "$BATS_TEST_FILENAME") skip" >&3
		return 0
	fi
	return "$rc"
}

# For setup or a test: skip (with the reason) when dockerd could not run.
docker_require() {
	if [ -n "${DOCKER_MISSING:-}" ]; then
		[ "${EDGECTL_STRICT:-}" = 1 ] && { echo "FAIL: $DOCKER_MISSING" >&2; return 1; }
		skip "$DOCKER_MISSING"
	fi
	[ -n "${DOCKER_DIR:-}" ] || { echo "dockerd was not started (docker_setup_file in setup_file?)" >&2; return 1; }
}

# docker_to_oci IMAGE LAYOUT TAG: copy a docker image into an OCI layout
# (gzip layers) through `docker save` and skopeo.
docker_to_oci() {
	local tar="$DOCKER_DIR/save-$$.tar"
	"$DOCKER" save -o "$tar" "$1" || return 1
	skopeo copy -q --dest-compress-format gzip "docker-archive:$tar" "oci:$2:$3" || {
		rm -f "$tar"
		return 1
	}
	rm -f "$tar"
}

# tree_list DIR: one line per entry below DIR, sorted: path, type, mode,
# uid:gid, link target, and a content hash for regular files; no times.
tree_list() {
	(
		cd "$1" || exit 1
		find . -mindepth 1 -printf '%P\t%y\t%m\t%U:%G\t%l\t' -a \
			\( -type f -exec sh -c 'sha256sum <"$1" | cut -c1-16' sh {} \; -o -printf '\n' \)
	) | LC_ALL=C sort
}

# config_norm: the image config fields the comparison covers, from a
# docker .Config or an OCI config's .config on stdin; null and "" fields
# are dropped (Docker writes null where an OCI config has nothing).
config_norm() {
	jq -S '{Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Labels,
		StopSignal, Healthcheck, Volumes, Shell, OnBuild}
		| with_entries(select(.value != null and .value != ""))'
}
