# busybox.bash - a minimal root filesystem for container tests, made from
# Debian's busybox-static (statically linked, so nothing else is needed).
#
#   busybox_rootfs DIR    create DIR (if missing) and fill it: /bin/busybox
#                         plus applet symlinks, /etc/passwd (root, nobody),
#                         /etc/group, /etc/hosts (localhost), empty /tmp
#                         /proc /sys /dev /root, /usr/bin/env
# Fails when /bin/busybox is not the static build (deps.sh installs it).
# Beware: Debian 12's busybox 1.35 `wget -T N` segfaults when the connection
# is refused; probe ports with `nc HOST PORT </dev/null` instead.

BUSYBOX_APPLETS="sh echo cat ls mkdir rm touch id sleep true false httpd wget
	nc env pwd head tail tr dd wc grep sed ps kill hostname ip ifconfig mount
	stat chmod ln printf test seq"

busybox_rootfs() {
	local dir=${1:?usage: busybox_rootfs DIR} bb=/bin/busybox a
	local out
	out=$(ldd "$bb" 2>&1 || true) # ldd exits 1 on a static binary
	if [ ! -x "$bb" ] || [[ $out != *"not a dynamic executable"* ]]; then
		echo "busybox_rootfs: $bb is not statically linked (install busybox-static)" >&2
		return 1
	fi
	mkdir -p "$dir"/{bin,etc,tmp,proc,sys,dev,root,usr/bin} || return 1
	chmod 1777 "$dir/tmp"
	cp "$bb" "$dir/bin/busybox" || return 1
	for a in $BUSYBOX_APPLETS; do
		ln -sf busybox "$dir/bin/$a" || return 1
	done
	ln -sf ../../bin/busybox "$dir/usr/bin/env" || return 1
	echo '127.0.0.1 localhost' >"$dir/etc/hosts"
	cat >"$dir/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
	cat >"$dir/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
}
