"""Every relative link in README.md and docs/**/*.md points at a file that exists, and a link to
a heading of a Markdown page (``page.md#heading``, or ``#heading`` on the same page) at a heading
that exists: moving text between pages breaks neither silently."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"!?\[[^\]]*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*(```|~~~)")
EXTERNAL = ("http://", "https://", "mailto:")


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _prose(text: str) -> str:
    """The text outside fenced code blocks and inline code."""
    kept, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            kept.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(kept)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found = set()
    for line in _prose(page.read_text()).splitlines():
        if match := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line):
            found.add(slug(match[1]))
    return found


def broken_links(page: Path) -> list[str]:
    broken = []
    for match in LINK.finditer(_prose(page.read_text())):
        target = match["target"]
        if target.startswith(EXTERNAL):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target} (no heading #{anchor} there)")
    return broken


def test_every_relative_link_in_the_docs_resolves() -> None:
    broken = {str(page.relative_to(ROOT)): found for page in pages()
              if (found := broken_links(page))}
    assert not broken, "\n".join(f"{page}: {', '.join(links)}" for page, links in broken.items())


def test_the_checker_sees_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## Set-up, the demo: and more\n")
    page = tmp_path / "page.md"
    page.write_text("# Page\n[a](other.md#set-up-the-demo-and-more) [b](other.md#nowhere)\n"
                    "![c](gone.png) [d](https://example.com/x) [e](#page) [f](#nope)\n"
                    "```\n[g](inside-a-fence.md)\n```\n`[h](inline.md)`\n")
    assert broken_links(page) == ["other.md#nowhere (no heading #nowhere there)",
                                  "gone.png (no such file)", "#nope (no heading #nope there)"]
