"""Safe access to a zip package held in memory (docx, xlsx, ods), and to the XML inside it.

Every size a zip declares is a claim, not a fact: a member is refused when it claims more than
`Limits.max_member_bytes`, and inflated in chunks with the cap enforced on what actually comes out,
so a zip bomb costs one chunk of memory and stops at the cap. XML is parsed without entities, DTDs
or the network; Office never writes a DTD, so a part that declares one is refused outright.
"""

import io
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

import lxml.etree

from worker.core.document import Limits
from worker.core.errors import ReportFailure
from worker.core.result import FailureReason

# lxml ships no type information: its elements are typed as Any here.
Element = Any

_CHUNK = 64 * 1024
# More members than any Office file has: the central directory of a hostile zip is not read further.
_MAX_MEMBERS = 20_000
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# What zipfile and zlib raise on a corrupt archive or member.
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError)


def is_ole(data: bytes) -> bool:
    """Whether the bytes are an OLE2 compound file (xls, doc, or an encrypted docx/xlsx)."""
    return data[:8] == _OLE_MAGIC


def ole_streams(data: bytes) -> set[str]:
    """The stream names of an OLE2 compound file, `/`-joined; an empty set when it cannot be read."""
    import olefile  # imported here: only an OLE file needs it

    try:
        with olefile.OleFileIO(data) as ole:
            return {"/".join(path) for path in ole.listdir(streams=True, storages=False)}
    except Exception:  # noqa: BLE001 - olefile raises many types on junk; junk has no streams
        return set()


def encrypted_package(data: bytes) -> bool:
    """Whether an OLE2 file is a password-protected docx/xlsx (Office's encrypted package)."""
    return bool({"EncryptedPackage", "EncryptionInfo"} & ole_streams(data))


def refuse_ole(data: bytes, expected: str) -> None:
    """Raise the failure for an OLE2 file where a zip package was expected: encrypted or unreadable."""
    if encrypted_package(data):
        raise ReportFailure(FailureReason.ENCRYPTED, f"the {expected} is password-protected (an encrypted Office file)")
    raise ReportFailure(
        FailureReason.UNREADABLE, f"not a readable {expected}: an OLE2 compound file, not a zip package"
    )


class Package:
    """A zip package in memory whose members are read within the limits of one document."""

    def __init__(self, data: bytes, limits: Limits, what: str = "document") -> None:
        self.what = what
        self.limits = limits
        self.inflated = 0
        if is_ole(data):
            refuse_ole(data, what)
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self._zip.infolist()
        except ZIP_ERRORS as error:
            raise self._refuse(str(error)) from error
        if len(infos) > _MAX_MEMBERS:
            raise self._refuse(f"{len(infos)} zip members")
        # A name may repeat in a hostile zip; the last one wins, as zipfile's own lookup does.
        self._infos = {info.filename: info for info in infos}

    def names(self) -> list[str]:
        """The member names, in the archive's order."""
        return list(self._infos)

    def has(self, name: str) -> bool:
        """Whether the package has a member of that name."""
        return name in self._infos

    def read(self, name: str) -> bytes:
        """A member's bytes, inflated in chunks within the member and total caps."""
        return b"".join(self._inflate(name, keep=True))

    def check(self, name: str) -> None:
        """Inflate a member within the caps, keeping nothing: a library that inflates the package
        itself (calamine) is then known to get no bomb and no corrupt member."""
        for _ in self._inflate(name, keep=False):
            pass

    def xml(self, name: str) -> Element:
        """A member parsed as XML (no entities, DTD or network), its root element."""
        return parse_xml(self.read(name), f"{name} of the {self.what}")

    def _inflate(self, name: str, *, keep: bool) -> Iterator[bytes]:
        info = self._infos.get(name)
        if info is None:
            raise self._refuse(f"it has no {name}")
        if info.flag_bits & 0x1:
            raise ReportFailure(FailureReason.ENCRYPTED, f"the {self.what} is a password-protected zip")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            # zipfile inflates bzip2/lzma in unbounded steps; Office writes only stored or deflated.
            raise self._refuse(f"{name} uses zip compression method {info.compress_type}, which Office never writes")
        cap = self.limits.max_member_bytes
        if info.file_size > cap:
            raise self._refuse(f"{name} would inflate to {info.file_size} bytes, over the limit of {cap}")
        size = 0
        try:
            with self._zip.open(info) as member:
                # read(n) of a deflated member inflates at most n bytes: the declared size is never trusted.
                while chunk := member.read(_CHUNK):
                    size += len(chunk)
                    self.inflated += len(chunk)
                    if size > cap:
                        raise self._refuse(f"{name} inflates past the limit of {cap} bytes")
                    if self.inflated > self.limits.max_unzipped_bytes:
                        raise self._refuse(f"its members inflate past the limit of {self.limits.max_unzipped_bytes}")
                    yield chunk if keep else b""
        except (*ZIP_ERRORS, RuntimeError) as error:  # RuntimeError: zipfile's "password required"
            raise self._refuse(f"{name}: {error}") from error

    def _refuse(self, message: str) -> ReportFailure:
        return ReportFailure(FailureReason.UNREADABLE, f"not a readable {self.what}: {message}")


def _parser() -> Any:
    return lxml.etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True, remove_pis=True
    )


def parse_xml(data: bytes, what: str) -> Element:
    """Parse one XML part safely; a syntax error or a DTD is an unreadable document."""
    try:
        root = lxml.etree.fromstring(data, parser=_parser())
    except lxml.etree.XMLSyntaxError as error:
        raise ReportFailure(FailureReason.UNREADABLE, f"{what} is not well-formed XML: {error}") from error
    if root is None:
        raise ReportFailure(FailureReason.UNREADABLE, f"{what} is empty")
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None or docinfo.doctype:
        # Office writes no DTD; one here is there for entity tricks, never for content.
        raise ReportFailure(FailureReason.UNREADABLE, f"{what} declares a DTD, which no Office file does")
    return root
