#!/bin/sh
# tests/test-conformance-optim.sh - kbit conformance of the optim family on every
# target (tests/conformance.sh).
exec "${srcdir:-.}/tests/conformance.sh" optim
