#!/usr/bin/env bash
# Runs the TLS + token example against a pulsarc-testbroker that serves TLS
# with a throw-away CA and requires a token, twice: with the right token
# (must exit 0) and with a wrong one (must fail creating the producer).
#
#   run-tls-with-testbroker.sh TESTBROKER TLS_TOKEN_EXAMPLE
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
broker=$1 example=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
ssl() { openssl "$@" 2>/dev/null; }
ssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
  -subj "/CN=pulsarc example CA"
ssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr -subj "/CN=localhost"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >ext.cnf
ssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out broker.pem -days 2 \
  -extfile ext.cnf
token="example-token-$$"
echo "$token" >token.txt
echo "not-$token" >wrong-token.txt
tls=(--tls-cert broker.pem --tls-key broker.key --require-token "$token")

"$here/run-with-testbroker.sh" "$broker" "${tls[@]}" -- "$example" @URL@ ca.pem token.txt
set +e
"$here/run-with-testbroker.sh" "$broker" "${tls[@]}" -- "$example" @URL@ ca.pem wrong-token.txt \
  2>wrong.err
rc=$?
set -e
cat wrong.err >&2
if [ "$rc" = 0 ] || ! grep -q PULSARC_ERR_BROKER_AUTHENTICATION wrong.err; then
  echo "run-tls-with-testbroker: a wrong token did not fail with PULSARC_ERR_BROKER_AUTHENTICATION" >&2
  exit 1
fi
echo "run-tls-with-testbroker: right token sent, wrong token refused"
