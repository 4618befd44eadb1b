#!/bin/sh
# Malformed and hostile inputs to the CLI: each must give the documented exit
# status and a one-line message naming the problem (tests/hostile.py).  Also
# passes against the sanitizer build (BUILD=build-san).
exec "${CC_PY:-/usr/bin/python3}" tests/hostile.py
