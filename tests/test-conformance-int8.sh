#!/bin/sh
# tests/test-conformance-int8.sh - kbit conformance of the int8 family on every
# target (tests/conformance.sh).
exec "${srcdir:-.}/tests/conformance.sh" int8
