"""tagscan.inputs: the input files of a scan, read and validated once into one immutable :class:`AuditSet`.

- :mod:`~tagscan.inputs.tables`: one table (Parquet, CSV, JSON Lines) and its id and attribute columns;
- :mod:`~tagscan.inputs.vectors`: precomputed input embeddings (``data.embeddings``);
- :mod:`~tagscan.inputs.kinds`: the input kinds (``embed.input``) in one registry;
- :mod:`~tagscan.inputs.audit`: the :class:`AuditSet` and :func:`load_audit_set`.

Every input error is raised here, once, naming the file, row or key and the fix.
"""

from tagscan.inputs.audit import RESERVED_COLUMNS, AuditSet, load_audit_set, read_sample_table
from tagscan.inputs.kinds import InputKind, input_kind, input_kinds
from tagscan.inputs.tables import file_sha256, read_table

__all__ = [
    "RESERVED_COLUMNS",
    "AuditSet",
    "InputKind",
    "file_sha256",
    "input_kind",
    "input_kinds",
    "load_audit_set",
    "read_sample_table",
    "read_table",
]
