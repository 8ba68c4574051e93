"""Parse functions that fail as native code can: they run in the parsing processes, so they live in
an importable module (not in a test file)."""

import hashlib
import os
import signal
import time
from dataclasses import replace
from pathlib import Path

from tests.corpus import CORPUS
from worker.core.parse import Parsed
from worker.jobs import ParseJob, parse_job

SEED = sorted((CORPUS / "seeds").glob("*.txt"))[0].read_bytes()


def job(name: str, data: bytes = SEED, seconds: float = 60.0) -> ParseJob:
    """A job for `data` (the first seed report) under a name."""
    return ParseJob(data, name, hashlib.sha256(data + name.encode()).hexdigest(), len(data), 10**8, seconds)


def crash_or_hang(job: ParseJob) -> Parsed:
    """The real parser, except for files named to crash their process, hang it or eat its memory (as
    native code can), or to take the seconds their bytes say (slow*)."""
    if job.filename == "crash.pdf":
        os.kill(os.getpid(), signal.SIGKILL)
    if job.filename == "hang.pdf":
        assert job.data is not None
        Path(job.data.decode()).write_text(str(os.getpid()))  # the test's file, to check the kill
        time.sleep(3600)
    if job.filename.startswith("slow"):
        assert job.data is not None
        time.sleep(float(job.data.decode()))  # the seconds to take, in place of the bytes
        return parse_job(replace(job, data=SEED))
    if job.filename == "greedy.pdf":
        bytearray(600 * 1024 * 1024)  # over the pool's address-space cap
    return parse_job(job)
