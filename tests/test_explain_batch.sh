#!/bin/sh
# contrastcam explain on several images, a folder and a list file: each
# input's outputs equal a one-image run's; bad inputs skipped; the progress
# line only on a terminal (tests/explain_batch.py).
exec "${CC_PY:-/usr/bin/python3}" tests/explain_batch.py
