"""Detectors: one class per detector, in a registry."""

from tagscan.scan.detectors.association import AssociationDetector
from tagscan.scan.detectors.base import Detector, ScanContext, available_detectors, get_detector, register

__all__ = ["AssociationDetector", "Detector", "ScanContext", "available_detectors", "get_detector", "register"]
