#!/bin/bash
# Builds Tests/Fixtures/x509/leakcheck against the debug X509 objects of a
# scratch path and runs it under valgrind.
#   Tests/Fixtures/x509/leakcheck.sh [SCRATCH=.build-x509] [ITERATIONS=10000]
# Needs `swift build --scratch-path SCRATCH --target X509` first.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
scratch=$root/${1:-.build-x509}
iterations=${2:-10000}
debug=$scratch/debug
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A bundle like a real upload: root, leaf, intermediate, key.
cd "$work"
printf '[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n[leaf]\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:x.example.com\n' > ext.cnf
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root.key -subj /CN=Root -days 30 -out root.crt 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout int.key -subj /CN=Int -out int.csr 2>/dev/null
openssl x509 -req -in int.csr -CA root.crt -CAkey root.key -set_serial 2 -days 30 -extfile ext.cnf -extensions ca -out int.crt 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout leaf.key -subj /CN=x.example.com -out leaf.csr 2>/dev/null
openssl x509 -req -in leaf.csr -CA int.crt -CAkey int.key -set_serial 3 -days 30 -extfile ext.cnf -extensions leaf -out leaf.crt 2>/dev/null
cat root.crt leaf.crt int.crt leaf.key > bundle.pem

swiftc -gnone -Onone \
  -I "$debug/Modules" \
  -Xcc -fmodule-map-file="$root/Sources/COpenSSL/module.modulemap" \
  -Xcc -fmodule-map-file="$debug/COpenSSLShim.build/module.modulemap" \
  -Xcc -I"$root/Sources/COpenSSLShim/include" \
  "$root/Tests/Fixtures/x509/leakcheck/main.swift" \
  "$debug"/X509.build/*.o "$debug"/COpenSSLShim.build/*.o \
  -lssl -lcrypto -o leakcheck
# valgrind 3.19 cannot read the DWARF 5 that Swift emits; symbols suffice.
objcopy --strip-debug leakcheck

valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
  --error-exitcode=3 ./leakcheck bundle.pem "$iterations"
