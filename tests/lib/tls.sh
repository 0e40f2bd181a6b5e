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
