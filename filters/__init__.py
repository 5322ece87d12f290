"""Engine-agnostic stages that work on Arrow batches of documents.

Every stage lives in its own module; :data:`filters.registry.STAGES` maps
config names to classes explicitly (no import-time registration).
"""
