"""Office documents — PDF, DOCX, HWP 5, HWPX — read into document records.

``read_document`` is what the readers call for ``format: pdf | docx | hwp | hwpx | auto``: the
file's bytes go to an extraction child (bounded memory and time, see :mod:`.sandbox`), and the
answer becomes :class:`~filters.readers.Record` events, or one quarantine with a reason from
:mod:`.model` (``encrypted``, ``malformed``, ``empty``, ``no_text_layer``, ``format_mismatch``,
``unsupported_format``, ``document_bomb``).
"""

from filters.documents.model import FORMATS, DocumentError, DocumentOptions

__all__ = ["FORMATS", "DocumentError", "DocumentOptions"]
