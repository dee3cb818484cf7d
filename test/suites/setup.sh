#!/bin/sh
# Installs what building LTP and pjdfstest from source needs on Debian, on
# top of test/setup.sh (gcc, libc6-dev): autoconf, automake, m4 and libtool
# (both trees are autotools projects), pkg-config and make, and openssl
# (pjdfstest's scripts name their files with openssl md5). The runner judges
# pjdfstest's TAP output itself, as prove does, so perl is not needed.
# Idempotent: installs only what is missing.
set -eu
need=""
for pair in autoconf:autoconf automake:automake m4:m4 libtoolize:libtool \
	pkg-config:pkg-config make:make openssl:openssl gcc:gcc; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || need="$need ${pair#*:}"
done
[ -e /usr/include/linux/fs.h ] || need="$need linux-libc-dev"
[ -e /usr/include/stdio.h ] || need="$need libc6-dev"
if [ -n "$need" ]; then
	sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	echo "suites setup: installing$need" >&2
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $need >/dev/null
fi
