#!/bin/sh
# End-to-end tests of the contrastcam command: real models from ../shared
# (predictions, explanations) and every documented error case.
exec "${CC_PY:-/usr/bin/python3}" tests/cli_e2e.py
