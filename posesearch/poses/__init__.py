"""Pose core: layouts, validation, normalization, distances, mirroring, Procrustes."""
