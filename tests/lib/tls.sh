# shellcheck shell=bash
# Helpers for the API's tests and benchmarks, all on loopback:
#   tls_cert DIR [DAYS]   a throwaway self-signed certificate for 127.0.0.1:
#                         DIR/cert.pem and DIR/key.pem (default 1 day)
#   free_port             prints a loopback TCP port nobody listens on, in 10000-19999:
#                         below the kernel's ephemeral ports (32768-60999), which an
#                         outgoing connection may hold without listening, and apart
#                         from the 20000-40000 of the private PostgreSQL, Dovecot
#                         and SMTP servers, which may start after the port is chosen

tls_cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days "${2:-1}" \
		-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
		-keyout "$1/key.pem" -out "$1/cert.pem" 2>"$1/openssl.log" ||
		{ cat "$1/openssl.log" >&2; return 1; }
}

free_port() {
	local port _
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		port=$((10000 + RANDOM % 10000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

# A throwaway CA for the tests' servers, and certificates it issues:
#   tls_ca DIR                          DIR/ca.pem (and ca.key, the openssl ca
#                                       bookkeeping), valid for 2 days
#   tls_ca_cert DIR [--expired] NAME... DIR/server.pem and DIR/server.key from
#                                       that CA, for these DNS names or IP
#                                       addresses (the first is also the CN);
#                                       --expired: valid only for a day in 2020
tls_ca() {
	local d=$1
	command -v openssl >/dev/null || { echo "tls_ca: needs openssl" >&2; return 1; }
	mkdir -p "$d/new" || return 1
	printf '%s\n' "[ca]" "default_ca = test" "[test]" "database = $d/index" \
		"new_certs_dir = $d/new" "serial = $d/serial" "default_md = sha256" "policy = any" \
		"unique_subject = no" "[any]" "commonName = supplied" >"$d/ca.cnf"
	echo 01 >"$d/serial"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-keyout "$d/ca.key" -out "$d/ca.pem" -subj "/CN=seutudesk test CA $$" \
		-addext "basicConstraints = critical,CA:TRUE" \
		-addext "keyUsage = critical,keyCertSign,cRLSign" 2>>"$d/openssl.log" || {
		echo "tls_ca: cannot make the test CA:" >&2
		tail -5 "$d/openssl.log" >&2
		return 1
	}
}

tls_ca_cert() {
	local d=$1 expired=0 san= name dates
	shift
	[ "${1:-}" = --expired ] && { expired=1; shift; }
	[ -f "$d/ca.key" ] || { echo "tls_ca_cert: no test CA in $d (tls_ca)" >&2; return 1; }
	for name in "$@"; do
		if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then
			san+=",IP:$name"
		else
			san+=",DNS:$name"
		fi
	done
	printf '%s\n' "subjectAltName = ${san#,}" "basicConstraints = CA:FALSE" \
		"keyUsage = digitalSignature" "extendedKeyUsage = serverAuth" >"$d/server.ext"
	if [ "$expired" = 1 ]; then
		dates="-startdate 20200101000000Z -enddate 20200102000000Z"
	else
		dates="-days 2"
	fi
	: >"$d/index"
	# shellcheck disable=SC2086
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$d/server.key" -subj "/CN=$1" -out "$d/server.csr" 2>>"$d/openssl.log" &&
		openssl ca -batch -notext -config "$d/ca.cnf" -cert "$d/ca.pem" -keyfile "$d/ca.key" \
			-in "$d/server.csr" -out "$d/server.pem" -extfile "$d/server.ext" $dates \
			>>"$d/openssl.log" 2>&1 || {
		echo "tls_ca_cert: openssl failed:" >&2
		tail -5 "$d/openssl.log" >&2
		return 1
	}
	chmod 0600 "$d/server.key"
}
