"""Build hook (the package's metadata is in pyproject.toml): a wheel or sdist built from a git
checkout records its commit in ``dynax/_commit.txt``, which ``dynax._version`` reads where no
git checkout is at hand (an installed wheel), so every result it writes names its commit."""

import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent


def _commit() -> str | None:
    """HEAD of the checkout being built (``+dirty`` when tracked files differ), or None."""
    try:
        run = lambda *a: subprocess.run(  # noqa: E731
            ["git", "-C", str(HERE), *a], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        commit = run("rev-parse", "HEAD")
        dirty = run("status", "--porcelain", "--untracked-files=no", "--", "dynax")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "") if commit else None


def _record(package_dir: Path) -> None:
    commit = _commit()
    target = package_dir / "dynax" / "_commit.txt"
    if commit and target.exists():
        target.unlink()  # the build's copy may be a hard link to the source file: never write through it
        target.write_text(commit + "\n")


class BuildPyWithCommit(build_py):
    def run(self):
        super().run()
        _record(Path(self.build_lib))


class SdistWithCommit(sdist):
    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        _record(Path(base_dir))


setup(cmdclass={"build_py": BuildPyWithCommit, "sdist": SdistWithCommit})
