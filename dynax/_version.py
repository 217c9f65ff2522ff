"""dynax's version (one place; the package metadata and the result attributes read it)."""

__version__ = "0.1.0"


def git_commit() -> str:
    """The git commit dynax runs from, with ``+dirty`` when files differ from it; ``unknown``
    for an installed copy outside a checkout (computed once per process)."""
    global _COMMIT
    if _COMMIT is None:
        import subprocess
        from pathlib import Path

        here = Path(__file__).resolve().parent
        try:
            run = lambda *a: subprocess.run(  # noqa: E731
                ["git", "-C", str(here), *a], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            commit = run("rev-parse", "HEAD")
            dirty = run("status", "--porcelain", "--untracked-files=no", "--", ".")
            _COMMIT = commit + ("+dirty" if dirty else "")
        except (OSError, subprocess.SubprocessError):
            _COMMIT = archived_commit()
    return _COMMIT


def archived_commit(path=None) -> str:
    """The commit of a copy made by ``git archive`` (GitHub's source archives): ``_commit.txt``
    is filled in by git's ``export-subst`` (.gitattributes); ``unknown`` when it was not."""
    from pathlib import Path

    path = Path(__file__).resolve().parent / "_commit.txt" if path is None else Path(path)
    try:
        text = path.read_text().strip()
    except OSError:
        return "unknown"
    return text if text and not text.startswith("$Format") else "unknown"


_COMMIT: str | None = None
