"""tagscan.inputs: the input files of a scan, read and validated once into one immutable :class:`AuditSet`."""

from tagscan.inputs.audit import (
    RESERVED_COLUMNS,
    AuditSet,
    file_sha256,
    load_audit_set,
    read_sample_table,
    read_table,
)

__all__ = ["AuditSet", "RESERVED_COLUMNS", "file_sha256", "load_audit_set", "read_sample_table", "read_table"]
