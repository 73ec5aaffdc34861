#!/bin/sh
# tests/test-conformance-quant4.sh - kbit conformance of the quant4 family on every
# target (tests/conformance.sh).
exec "${srcdir:-.}/tests/conformance.sh" quant4
