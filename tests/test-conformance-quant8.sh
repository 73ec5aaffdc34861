#!/bin/sh
# tests/test-conformance-quant8.sh - kbit conformance of the quant8 family on every
# target (tests/conformance.sh).
exec "${srcdir:-.}/tests/conformance.sh" quant8
