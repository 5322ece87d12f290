"""HTML main-text extraction with trafilatura (the extractor datatrove also uses)."""

from __future__ import annotations

import logging


def extract_main_text(html: str) -> str:
    import trafilatura

    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    text = trafilatura.extract(html, include_comments=False, include_tables=True, deduplicate=False)
    return (text or "").strip()
