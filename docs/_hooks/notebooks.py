"""MkDocs hook: render the repository's notebooks/*.ipynb on the site without copying them.

The notebooks live in notebooks/ (nbval re-runs them there), outside docs_dir. This hook adds
each one to the site's files as `notebooks/NAME.ipynb`, before mkdocs-jupyter turns
notebooks into pages (hence the high priority), so a fresh clone needs no symlink or copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]


@event_priority(100)
def on_files(files: Files, config: Any) -> Files:
    """Add notebooks/*.ipynb (sources stay where they are) to the site's files."""
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        files.append(
            File(
                f"notebooks/{path.name}",
                src_dir=str(ROOT),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files
