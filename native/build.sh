#!/usr/bin/env bash
# Builds the N-API addon(s) in native/ (g++ and Node's headers; no node-gyp needed).
# The server runs without them (JavaScript fallbacks); the tests build them first.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p build
include="$(dirname "$(dirname "$(command -v node)")")/include/node"
[ -f "$include/node_api.h" ] || include=/usr/include/node
for name in ingress_reader shared_memory; do
  src="${name//_/-}/$name.cc"
  out="build/$name.node"
  if [ ! -f "$out" ] || [ "$src" -nt "$out" ] || [ "$0" -nt "$out" ]; then
    g++ -std=c++17 -O2 -Wall -Wextra -shared -fPIC -DNODE_GYP_MODULE_NAME="$name" -I"$include" -o "$out.tmp" "$src" -lpthread
    mv "$out.tmp" "$out"
    echo "native: built $out"
  fi
done
