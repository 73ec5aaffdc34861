#!/bin/sh
# tests/test-conformance-gemm4.sh - kbit conformance of the gemm4 family on every
# target (tests/conformance.sh).
exec "${srcdir:-.}/tests/conformance.sh" gemm4
