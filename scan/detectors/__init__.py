"""Detectors: one class per detector, in a registry, each with its own settings (``scan.detectors.<name>``).

A new detector is one module here (a :class:`Detector` subclass with ``name``, ``Config``, ``requires``,
``direction`` and ``run``, decorated with :func:`register`) and one import below: importing a detector's
module registers it.
"""

from tagscan.scan.detectors.alignment_gap import AlignmentGapDetector
from tagscan.scan.detectors.association import AssociationDetector, UnderRepresentationDetector
from tagscan.scan.detectors.base import (
    Detector,
    DetectorConfig,
    DetectorResult,
    FamilyRecord,
    ScanContext,
    available_detectors,
    get_detector,
    register,
)
from tagscan.scan.detectors.error_gap import ErrorGapDetector
from tagscan.scan.detectors.label_family import LabelFamilyDetector
from tagscan.scan.detectors.settings import default_settings, resolve

__all__ = [
    "AlignmentGapDetector",
    "AssociationDetector",
    "Detector",
    "DetectorConfig",
    "DetectorResult",
    "ErrorGapDetector",
    "FamilyRecord",
    "LabelFamilyDetector",
    "ScanContext",
    "UnderRepresentationDetector",
    "available_detectors",
    "default_settings",
    "get_detector",
    "register",
    "resolve",
]
