"""The shipped models (``voxstream.models``): each ``<name>.tflite`` with its ``<name>.json`` card.

Package data, so a command finds them wherever it runs (:mod:`voxstream.stream.shipped`).
"""
