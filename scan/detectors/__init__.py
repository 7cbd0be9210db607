"""Detectors: one class per detector, in a registry."""

from tagscan.scan.detectors.alignment_gap import AlignmentGapDetector
from tagscan.scan.detectors.association import AssociationDetector
from tagscan.scan.detectors.base import Detector, ScanContext, available_detectors, get_detector, register
from tagscan.scan.detectors.error_gap import ErrorGapDetector
from tagscan.scan.detectors.label_family import LabelFamilyDetector

__all__ = ["AssociationDetector", "Detector", "ScanContext", "available_detectors", "get_detector", "register"]
__all__ += ["AlignmentGapDetector", "ErrorGapDetector", "LabelFamilyDetector"]
