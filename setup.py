"""Build hook (the package's metadata is in pyproject.toml): a wheel or sdist built from a git
checkout records its commit in ``dynax/_commit.txt``, which ``dynax._version`` reads where no
git checkout is at hand (an installed wheel), so every result it writes names its commit."""

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent


def _commit() -> str | None:
    """The checkout's commit as dynax records it (``dynax._version.git_commit``, loaded from its
    file: the package itself is not importable while it builds), or None outside a checkout."""
    spec = importlib.util.spec_from_file_location("_dynax_version", HERE / "dynax" / "_version.py")
    version = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(version)
    commit = version.git_commit()
    return None if commit == "unknown" or commit.startswith("$") else commit


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
