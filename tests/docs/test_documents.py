"""The documents build without a broken link or a page left out of the nav, and the pages
generated from the code (tools/docs_gen.py) are what the code gives now."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_documents_build_with_mkdocs_in_strict_mode(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "index.html").is_file()
    for page in ("architecture", "real-aws", "scaled-mode", "operations", "troubleshooting"):
        assert (tmp_path / page / "index.html").is_file(), page
    assert (tmp_path / "reference" / "compatibility" / "index.html").is_file()


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    # The same configuration with one more page that links nowhere: strict mode must refuse it.
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\nSee [nothing](missing.md).\n")
    config = tmp_path / "mkdocs.yml"
    config.write_text(
        (ROOT / "mkdocs.yml").read_text().split("\nnav:")[0] + "\nnav:\n  - Home: index.md\n"
    )
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "-f", str(config), "-d", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode != 0
    assert "missing.md" in built.stderr


def test_the_generated_pages_match_the_code() -> None:
    checked = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "docs_gen.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert checked.returncode == 0, checked.stderr


def test_the_readme_points_at_the_documents_in_the_repository() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "../shared/design/ARCHITECTURE.md" not in readme
    assert "docs/architecture.md" in readme
