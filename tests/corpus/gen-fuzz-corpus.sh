#!/bin/sh
# gen-fuzz-corpus.sh - rebuild the seed corpus of the parser fuzzer
# (tests/corpus/fuzz_parser/) from tests/corpus/gen_fuzz_parser.c.
set -e
cd "$(dirname "$0")/../.."
make -s test-unit >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -Isrc -Itests/unit \
	-o "$tmp/gen" tests/corpus/gen_fuzz_parser.c tests/unit/streamgen.c build/obj/src/stream/*.o $(pkg-config --libs yajl)
mkdir -p tests/corpus/fuzz_parser
"$tmp/gen" tests/corpus/fuzz_parser
