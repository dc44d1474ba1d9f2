"""The shipped models (``voxstream.models``): each ``<name>.tflite`` with its ``<name>.json`` card.

Package data (the repository's top-level ``models/`` folder, installed as ``voxstream.models``), so a
command finds them wherever it runs (:mod:`voxstream.inference.shipped`).
"""
