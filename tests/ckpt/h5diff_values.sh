#!/usr/bin/env bash
# h5diff_values.sh TOL A.h5 B.h5 GROUP: compares the tensors under GROUP of
# two checkpoints within an absolute tolerance. Each dataset's crc32c
# attribute (a checksum of its exact bytes) differs whenever the values
# differ at all, so differences in it alone are accepted; any other
# difference (a value beyond TOL, a missing tensor, another attribute) is
# printed and fails (exit 1).
set -u
tol=$1 a=$2 b=$3 group=$4
out=$(h5diff -d "$tol" "$a" "$b" "$group" 2>&1) && exit 0
rest=$(grep -v -e '^attribute: <crc32c of ' -e '^[0-9]* differences found$' -e '^$' <<<"$out")
[ -z "$rest" ] && exit 0
head -20 <<<"$out"
exit 1
