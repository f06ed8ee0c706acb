"""Getting datasets onto this machine: CIFAR downloads (checksummed, extracted atomically) and
the apt command for the Debian-packaged ones.

Only the download itself needs the network; checksum and extraction work on any local tarball.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from fixynn.atomic import atomic_write
from fixynn.errors import FixynnError


@dataclass(frozen=True)
class Archive:
    url: str
    md5: str  # as published on https://www.cs.toronto.edu/~kriz/cifar.html
    folder: str  # the one top-level directory inside the tarball

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[1]


CIFAR_ARCHIVES: dict[str, Archive] = {
    "cifar10": Archive(
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
        "cifar-10-batches-py",
    ),
    "cifar100": Archive(
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85",
        "cifar-100-python",
    ),
}
CHUNK = 1 << 20


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_md5(path: Path, expected: str) -> None:
    actual = file_md5(path)
    if actual != expected:
        raise FixynnError(
            f"{path}: md5 {actual} does not match the published {expected}; the download is "
            "corrupt or not the official file, delete it and fetch again"
        )


def download(url: str, dest: Path, md5: str) -> Path:
    """Stream `url` to `dest`; the file appears only once complete and its md5 matches."""

    def write(tmp: Path) -> None:
        try:
            with urllib.request.urlopen(url, timeout=60) as response, tmp.open("wb") as out:
                shutil.copyfileobj(response, out, CHUNK)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise FixynnError(
                f"{url}: download failed ({exc}); check the network, or download it by hand "
                "and pass --root to the extracted folder"
            ) from None
        verify_md5(tmp, md5)

    return atomic_write(dest, write)


def extract_archive(archive: Path, dest_dir: Path, folder: str) -> Path:
    """Unpack `archive` (whose members all sit under `folder/`) to `dest_dir/folder`, atomically.

    Members are extracted with tarfile's "data" filter (no absolute paths, no links out, no
    devices) into a temporary directory beside the target, then renamed into place.
    """
    target = dest_dir / folder
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder}.", dir=dest_dir))
    try:
        with tarfile.open(archive) as tar:
            names = tar.getnames()
            stray = [n for n in names if n != folder and not n.startswith(folder + "/")]
            if not names or stray:
                raise FixynnError(
                    f"{archive}: expected every member under {folder}/, found "
                    f"{stray[0] if stray else 'no members'}; not the official archive"
                )
            tar.extractall(tmp, filter="data")
        if target.exists():  # another run finished first; its copy is complete
            return target
        os.replace(tmp / folder, target)
        return target
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise FixynnError(f"{archive}: cannot extract ({exc}); delete it, fetch again") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_cifar(name: str, root: Path) -> Path:
    """Download, verify and extract the official python-version archive of `name` into `root`."""
    archive = CIFAR_ARCHIVES[name]
    tarball = root / archive.filename
    if tarball.is_file():
        verify_md5(tarball, archive.md5)
    else:
        download(archive.url, tarball, archive.md5)
    target = extract_archive(tarball, root, archive.folder)
    tarball.unlink()  # the extracted batches are all the loader needs
    return target


def apt_install(package: str) -> None:
    """Run `apt-get install -y package`; only as root with apt-get on PATH."""
    command = ["apt-get", "install", "-y", package]
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise FixynnError(
            f"{package}: installing needs root and apt-get; run `sudo {' '.join(command)}`"
        )
    if subprocess.run(command, check=False).returncode != 0:
        raise FixynnError(f"{package}: `{' '.join(command)}` failed; see apt's output above")
