#!/usr/bin/env bats
# push and pull against a registry with Basic auth (htpasswd): credentials
# from --creds and from a docker config file; wrong ones exit 5.
bats_require_minimum_version 1.5.0

setup_file() {
	load ../lib/common
	load ../lib/registry
	reg_setup_file_auth
}

teardown_file() {
	load ../lib/registry
	reg_stop
}

setup() {
	load ../lib/common
	load ../lib/registry
	ec_isolate
	reg_require
	T=$BATS_TEST_TMPDIR
	ec_tiny_image app:1
}

@test "registry auth: no or wrong credentials exit 5 naming the registry; --creds works" {
	run -5 --separate-stderr edgectl push --tls-verify=false app:1 "docker://$REGISTRY/app:1"
	[[ $stderr == *"$REGISTRY"* ]] || { echo "$stderr"; false; }
	run -5 --separate-stderr edgectl push --tls-verify=false --creds "$REGISTRY_USER:wrong" app:1 "docker://$REGISTRY/app:1"
	run -0 --separate-stderr edgectl push --tls-verify=false --creds "$REGISTRY_USER:$REGISTRY_PASS" app:1 "docker://$REGISTRY/app:1"
	run -0 skopeo inspect --tls-verify=false --creds "$REGISTRY_USER:$REGISTRY_PASS" "docker://$REGISTRY/app:1"
}

@test "registry auth: credentials from ~/.docker/config.json for push and pull" {
	mkdir -p "$HOME/.docker"
	reg_auth_file "$HOME/.docker/config.json"
	run -0 --separate-stderr edgectl push --tls-verify=false app:1 "docker://$REGISTRY/app:2"
	run -0 --separate-stderr edgectl --root "$T/r2" --json pull --tls-verify=false "docker://$REGISTRY/app:2"
	jq -e '.blobs_copied == 2' <<<"$output"
}
