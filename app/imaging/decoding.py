"""Decoding compressed pixel data in a worker process whose memory and time are capped.

The codestream checks (``codestream.py``) refuse a frame that states another size than its
header before any decoder runs; this is the second wall. A decoder can still be made to
allocate far more than the image needs (pydicom's RLE decoder grows its output with the
runs it reads), and some decoders panic or crash on hostile data. So compressed frames are
decoded in a separate process whose address space is limited, for each image, to what its
header's size needs plus a margin, and which is given a time limit. A worker that runs out
of memory, crashes or overruns is replaced, and the file is refused; the server goes on.

Workers are processes of their own (``python -c``, not forks of the threaded server), started
on first use, reused from one image to the next; at most ``WORKERS`` decode at once.
"""

from __future__ import annotations

import atexit
import logging
import os
import pickle
import resource
import select
import socket
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass
from functools import cache

import numpy as np
from pydicom import Dataset
from pydicom.pixels import get_decoder
from pydicom.pixels.utils import as_pixel_options
from pydicom.uid import UID

from app.imaging.dicom import decode, decoding_plugin

WORKERS = 2  # the machines this runs on have few cores; more waiting imports queue here
DECODE_SECONDS = 120.0  # a 3328x2560 JPEG 2000 image takes about a second
MARGIN_BYTES = 64 * 2**20  # decoder state, tables, the Python objects around them
BYTES_PER_SAMPLE = 16  # measured at most ~10 (OpenJPEG: 32-bit planes, then the output)
SOCKET_BUFFER = 4 * 2**20
JOB_HEADER = "<QQ"  # sizes of the pickled job and of the pixel data that follow
REPLY = "<4sQQ8s"  # status, rows, columns, NumPy dtype; then the array's bytes when "ok"
OK, MEMORY, ERROR = b"ok", b"mem", b"err"
MEMORY_REFUSAL = "The pixel data could not be decoded within the memory limit."
DAMAGED_REFUSAL = "The pixel data could not be decoded (damaged or truncated)."


class DecodeRefused(Exception):
    """The pixel data was not decoded; the reason is for the administrator."""


@dataclass(frozen=True)
class Job:
    """One frame to decode: what pydicom needs besides the pixel data bytes."""

    syntax: str
    plugin: str
    options: dict[str, int | str]
    memory_bytes: int
    seconds: float = DECODE_SECONDS

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.options["rows"]), int(self.options["columns"])


def memory_budget(rows: int, columns: int, samples: int, encoded_bytes: int) -> int:
    """Address space a decoder may add for one frame: from the header's size, plus a margin."""
    return MARGIN_BYTES + BYTES_PER_SAMPLE * rows * columns * samples + 2 * encoded_bytes


def job_for(ds: Dataset) -> Job:
    options = as_pixel_options(ds)
    syntax = UID(str(ds.file_meta.TransferSyntaxUID))
    budget = memory_budget(
        int(options["rows"]),
        int(options["columns"]),
        int(options.get("samples_per_pixel", 1)),
        len(ds.PixelData),
    )
    return Job(str(syntax), decoding_plugin(syntax) or "", dict(options), budget)


def decode_capped(ds: Dataset) -> np.ndarray:
    """The stored pixel values of an accepted single-frame dataset. Uncompressed data is only
    reinterpreted (its length was checked), here; compressed data goes to a capped worker."""
    if not UID(str(ds.file_meta.TransferSyntaxUID)).is_compressed:
        return decode(ds)
    return run(job_for(ds), ds.PixelData)


def run(job: Job, data: bytes) -> np.ndarray:
    """Decode ``data`` (the encapsulated pixel data) in a worker; DecodeRefused if it fails."""
    return _pool().decode(job, data)


# --- the parent's side -----------------------------------------------------------------------


class _Worker:
    """A decoding process of its own (not a fork of the threaded server), over a socket."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        for end in (ours, theirs):  # fewer round trips for megabytes each way
            end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
            end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
        with theirs:
            self.process = subprocess.Popen(  # noqa: S603 (our interpreter, our code)
                [sys.executable, "-c", WORKER_MAIN, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": _python_path(), "RUST_BACKTRACE": "0"},
                start_new_session=True,  # Ctrl-C is for the server, which stops its workers
            )
        self.sock = ours
        self.reusable = True  # cleared when the worker may be dead, stuck, or out of step

    def decode(self, job: Job, data: bytes) -> np.ndarray:
        self.reusable = False
        try:
            header = pickle.dumps(job)
            self.sock.sendall(struct.pack(JOB_HEADER, len(header), len(data)) + header)
            self.sock.sendall(data)
            if not select.select([self.sock], [], [], job.seconds)[0]:
                raise DecodeRefused(
                    f"The pixel data could not be decoded within {job.seconds:g} seconds."
                )
            status, rows, columns, dtype_text = struct.unpack(REPLY, _exactly(self.sock, REPLY))
        except (EOFError, OSError):  # the worker died: killed at its limit, or crashed
            raise DecodeRefused(MEMORY_REFUSAL) from None
        status = status.rstrip(b"\0")
        if status == ERROR:  # a decoder's exception: the worker itself is fine
            self.reusable = True
            raise DecodeRefused(DAMAGED_REFUSAL)
        if status != OK:
            raise DecodeRefused(MEMORY_REFUSAL)
        array = self._array(job, (rows, columns), dtype_text)
        self.reusable = True
        return array

    def _array(self, job: Job, shape: tuple[int, int], dtype_text: bytes) -> np.ndarray:
        """The decoded array, read straight into its buffer. The reply is plain numbers, never
        a pickle: a worker subverted by hostile data cannot run code here."""
        try:
            dtype = np.dtype(dtype_text.rstrip(b"\0").decode("ascii"))
        except (TypeError, ValueError):
            raise DecodeRefused(DAMAGED_REFUSAL) from None
        if shape != job.shape or dtype.kind not in "uib" or dtype.itemsize > 8:
            rows, columns = job.shape
            raise DecodeRefused(f"The pixel data has shape {shape}, not {rows}x{columns}.")
        buffer = bytearray(shape[0] * shape[1] * dtype.itemsize)
        try:
            _receive_into(self.sock, memoryview(buffer))
        except (EOFError, OSError):
            raise DecodeRefused(MEMORY_REFUSAL) from None
        return np.frombuffer(buffer, dtype).reshape(shape)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        self.sock.close()
        if self.alive:
            self.process.kill()
        self.process.wait()


def _exactly(sock: socket.socket, layout: str) -> bytes:
    buffer = bytearray(struct.calcsize(layout))
    _receive_into(sock, memoryview(buffer))
    return bytes(buffer)


def _receive_into(sock: socket.socket, view: memoryview) -> None:
    while view:
        received = sock.recv_into(view)
        if not received:
            raise EOFError
        view = view[received:]


def _python_path() -> str:
    """The parent's import path, so the worker finds this package however the server runs."""
    return os.pathsep.join(path or os.getcwd() for path in sys.path)


class _Pool:
    """Idle workers kept for reuse; one that may be dead, stuck or out of step is stopped."""

    def __init__(self, size: int) -> None:
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []

    def decode(self, job: Job, data: bytes) -> np.ndarray:
        with self._slots:
            worker = self._take()
            try:
                return worker.decode(job, data)
            finally:
                if worker.reusable:
                    with self._lock:
                        self._idle.append(worker)
                else:
                    worker.stop()

    def _take(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    return worker
                worker.stop()
        return _Worker()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()


@cache
def _pool() -> _Pool:
    pool = _Pool(WORKERS)
    atexit.register(pool.close)
    return pool


# --- the worker's side -----------------------------------------------------------------------


WORKER_MAIN = "import sys; from app.imaging.decoding import serve; serve(int(sys.argv[1]))"


def serve(fd: int) -> None:
    """The worker: decode jobs from the socket ``fd`` until the parent goes away."""
    sock = socket.socket(fileno=fd)
    memory_errors = _MemoryErrors()
    logging.getLogger("pydicom").addHandler(memory_errors)
    while True:
        try:
            header_size, data_size = struct.unpack(JOB_HEADER, _exactly(sock, JOB_HEADER))
            header = bytearray(header_size)
            _receive_into(sock, memoryview(header))
            job: Job = pickle.loads(header)  # noqa: S301 (from the parent, which is trusted)
            data = bytearray(data_size)
            _receive_into(sock, memoryview(data))
        except (EOFError, OSError):
            return
        memory_errors.seen = False
        status, array = _decode_limited(job, data)
        del data
        if status == ERROR and memory_errors.seen:
            status = MEMORY
        if array is not None and array.ndim != 2:
            status, array = ERROR, None
        if array is None:
            sock.sendall(struct.pack(REPLY, status, 0, 0, b""))
        else:
            rows, columns = array.shape
            sock.sendall(struct.pack(REPLY, status, rows, columns, array.dtype.str.encode()))
            sock.sendall(memoryview(array).cast("B"))


class _MemoryErrors(logging.Handler):
    """pydicom logs a decoding plugin's exception, then raises a RuntimeError with only its
    text (empty for a MemoryError): this notes whether it was a decoder reaching the limit."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen = False

    def emit(self, record: logging.LogRecord) -> None:
        kind = record.exc_info[0] if record.exc_info else None
        if kind is not None and issubclass(kind, MemoryError):
            self.seen = True


def _decode_limited(job: Job, data: bytearray) -> tuple[bytes, np.ndarray | None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _address_space() + job.memory_bytes
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        array, _ = get_decoder(UID(job.syntax)).as_array(
            data, index=0, decoding_plugin=job.plugin, **job.options
        )
        return OK, np.ascontiguousarray(array)
    except MemoryError:
        return MEMORY, None
    except BaseException as error:  # decoders raise anything, even Rust panics
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        return (MEMORY if "memory" in str(error).lower() else ERROR), None
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _address_space() -> int:
    """This process's mapped address space now (what RLIMIT_AS counts), in bytes."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[0])
    return pages * resource.getpagesize()
