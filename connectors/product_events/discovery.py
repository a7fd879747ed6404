"""Which landing files exist, which are new, and reading them: reusable by every consumer.

Files are listed through dlt's filesystem source (fsspec underneath: a local folder or
``s3://bucket/prefix`` with dlt's usual credentials, e.g. ``AWS_*`` or
``SOURCES__FILESYSTEM__CREDENTIALS__*``). "New" is decided against a *manifest of file keys*
(a consumer's own table), never by folder name or a modification-time cursor: a Kafka sink
writes late events as new part files inside old ``dt=/hour=`` folders, and an upload's
modification time says nothing about the events inside.

The ingestion keeps its manifest in ``raw_events.landing_manifest``; the 5-minute ops refresh
can keep its own (``manifest_table=...``) and reuse :func:`list_landing_files`,
:func:`new_files`, :func:`batches` / :func:`read_batches` and :func:`read_batch` unchanged.
"""

from __future__ import annotations

import itertools
import os
import posixpath
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import polars as pl
from dlt.common.configuration import resolve_configuration
from dlt.common.storages.fsspec_filesystem import fsspec_from_config
from dlt.sources.filesystem import filesystem
from dlt.sources.filesystem.helpers import FilesystemConfigurationResource

from connectors.product_events import settings as S
from connectors.product_events.parse import FileLines, UnreadableFile, gunzip, split_lines

_T = TypeVar("_T")

LISTING_SCHEMA = pl.Schema(
    {
        "file_key": pl.String(),
        "file_url": pl.String(),
        "size_bytes": pl.Int64(),
        "modified_at": pl.Datetime("us", "UTC"),
    }
)


def normalise_url(landing_url: str) -> str:
    """An absolute ``file://``-free path for local folders; URLs (``s3://``, ``file://``) unchanged."""
    if "://" in landing_url:
        return landing_url.rstrip("/")
    return os.path.abspath(os.path.expanduser(landing_url))


def list_landing_files(landing_url: str, file_glob: str = S.FILE_GLOB) -> pl.DataFrame:
    """Every landing file under ``landing_url``: ``file_key`` (relative, POSIX), url, size, mtime."""
    url = normalise_url(landing_url)
    if "://" not in url and not os.path.isdir(url):
        return pl.DataFrame(schema=LISTING_SCHEMA)
    rows: list[dict[str, Any]] = []
    # The resource yields pages of file items; listing is metadata only (no content read).
    for item in filesystem(bucket_url=url, file_glob=file_glob, files_per_page=1000):
        rows.append(
            {
                "file_key": item["relative_path"],
                "file_url": item["file_url"],
                "size_bytes": int(item["size_in_bytes"]),
                "modified_at": item["modification_date"],
            }
        )
    if not rows:
        return pl.DataFrame(schema=LISTING_SCHEMA)
    return pl.DataFrame(rows, schema=LISTING_SCHEMA).sort("file_key")


def new_files(listing: pl.DataFrame, seen_keys: pl.Series) -> pl.DataFrame:
    """Files of ``listing`` whose key is not in ``seen_keys``, oldest modification first."""
    out = listing.filter(~pl.col("file_key").is_in(seen_keys.implode()))
    return out.sort(["modified_at", "file_key"])


def batches(files: pl.DataFrame, max_files: int, max_bytes: int) -> Iterator[pl.DataFrame]:
    """Consecutive slices of ``files`` with at most ``max_files`` files and ``max_bytes`` compressed
    bytes each (a single file larger than ``max_bytes`` is a batch of its own)."""
    if max_files < 1 or max_bytes < 1:
        raise ValueError("batch limits must be positive")
    start, count, size = 0, 0, 0
    sizes = files["size_bytes"].to_list()
    for i, b in enumerate(sizes):
        if count and (count + 1 > max_files or size + b > max_bytes):
            yield files.slice(start, i - start)
            start, count, size = i, 0, 0
        count += 1
        size += b
    if count:
        yield files.slice(start, len(sizes) - start)


@dataclass(frozen=True)
class BatchLimits:
    """Bounds of one batch: files, compressed bytes and decompressed text (each batch holds at
    least one file), and the text of one file (beyond it the file is quarantined unread)."""

    max_files: int = S.DEFAULT_BATCH_FILES
    max_bytes: int = S.DEFAULT_BATCH_BYTES
    max_text: int = S.DEFAULT_BATCH_TEXT_BYTES
    max_file_text: int = S.DEFAULT_MAX_FILE_BYTES

    def __post_init__(self) -> None:
        if min(self.max_files, self.max_bytes, self.max_text, self.max_file_text) < 1:
            raise ValueError("batch limits must be positive")


@dataclass
class ReadBatch:
    """One batch read: the listing rows and lines of its readable files, and the listing rows of
    the files that could not be read whole (``error``, ``lines_read``), to quarantine."""

    files: pl.DataFrame
    lines: list[FileLines]
    unreadable: pl.DataFrame

    @property
    def n_files(self) -> int:
        """Files of the batch, readable or not."""
        return self.files.height + self.unreadable.height


@dataclass(frozen=True)
class Unreadable:
    """A file that could not be read whole, and why (no content in ``error``)."""

    file_key: str
    error: str
    lines_read: int | None


def _read_batch(files: pl.DataFrame, got: list[FileLines | Unreadable]) -> ReadBatch:
    """A :class:`ReadBatch` of ``files`` (listing rows) and what reading each gave, in order."""
    bad = [g for g in got if isinstance(g, Unreadable)]
    ok = [g for g in got if isinstance(g, FileLines)]
    why = pl.DataFrame(
        {
            "file_key": [b.file_key for b in bad],
            "error": [b.error for b in bad],
            "lines_read": [b.lines_read for b in bad],
        },
        schema={"file_key": pl.String, "error": pl.String, "lines_read": pl.Int64},
    )
    readable = files.filter(pl.col("file_key").is_in([f.file_key for f in ok]))
    return ReadBatch(readable, ok, files.join(why, on="file_key", how="inner"))


@dataclass(frozen=True)
class FileReader:
    """Reads landing files through the same fsspec filesystem dlt uses for ``landing_url``."""

    landing_url: str
    max_file_text: int = S.DEFAULT_MAX_FILE_BYTES

    def _fs(self) -> tuple[Any, str]:
        # Same config sections as dlt's filesystem resource, so one set of credentials serves both.
        cfg = resolve_configuration(
            FilesystemConfigurationResource(bucket_url=normalise_url(self.landing_url)),
            sections=("sources", "filesystem"),
        )
        fs, root = fsspec_from_config(cfg)
        return fs, fs._strip_protocol(root if "://" in root else normalise_url(self.landing_url))

    def filesystem(self) -> tuple[Any, str]:
        """The fsspec filesystem of ``landing_url`` and its root path (erasure rewrites files
        through it, with the credentials the reads use)."""
        return self._fs()

    def opener(self) -> Callable[[str], FileLines | Unreadable]:
        """A function reading one file by key: streamed and gunzipped (at most ``max_file_text``
        bytes of text), then split; or why it cannot be read whole. Threads may share it (zlib
        and S3 I/O release the GIL)."""
        fs, root = self._fs()

        def one(key: str) -> FileLines | Unreadable:
            try:
                with fs.open(posixpath.join(root, key), "rb") as fh:
                    text = gunzip(fh, self.max_file_text)
            except UnreadableFile as exc:
                return Unreadable(key, str(exc), exc.lines_read)
            return split_lines(key, text)

        return one

    def read(self, files: pl.DataFrame, threads: int = 2) -> ReadBatch:
        """Fetch, gunzip and split the given files, whatever their total size."""
        one = self.opener()
        keys = files["file_key"].to_list()
        if threads <= 1 or len(keys) <= 1:
            return _read_batch(files, [one(k) for k in keys])
        with ThreadPoolExecutor(max_workers=threads) as pool:
            return _read_batch(files, list(pool.map(one, keys)))


def read_batch(
    landing_url: str, files: pl.DataFrame, threads: int = 2, max_file_text: int = S.DEFAULT_MAX_FILE_BYTES
) -> ReadBatch:
    """Read one batch of landing files into lines (see :class:`FileReader`)."""
    return FileReader(landing_url, max_file_text).read(files, threads=threads)


def read_batches(
    landing_url: str, files: pl.DataFrame, limits: BatchLimits, threads: int = 2
) -> Generator[ReadBatch, None, None]:
    """``files`` read in order and cut into batches within ``limits``, as they are read.

    A batch closes before the file that would take it past a limit: its file count, its
    compressed bytes (known from the listing) or its text (known once read, so the cut is made
    while reading: a gzip bomb cannot make a batch's text grow past ``max_text``). Files are
    streamed through gunzip with the per-file text limit. ``threads`` files are read ahead, in
    order; while the caller works on a batch, those reads finish and wait, no more. Memory: one
    batch's text (at most ``max_text``, or one file of at most ``max_file_text``) plus
    ``threads`` files ahead.
    """
    one = FileReader(landing_url, limits.max_file_text).opener()
    sizes = files["size_bytes"].to_list()
    start, n_bytes, n_text = 0, 0, 0
    got: list[FileLines | Unreadable] = []
    with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
        for j, item in enumerate(_in_order(pool, one, files["file_key"].to_list(), max(threads, 1))):
            text = item.lines.nbytes if isinstance(item, FileLines) else 0
            full = (
                len(got) + 1 > limits.max_files
                or n_bytes + sizes[j] > limits.max_bytes
                or n_text + text > limits.max_text
            )
            if got and full:
                yield _read_batch(files.slice(start, len(got)), got)
                start, n_bytes, n_text, got = j, 0, 0, []
            got.append(item)
            n_bytes += sizes[j]
            n_text += text
        if got:
            yield _read_batch(files.slice(start, len(got)), got)


def _in_order(pool: ThreadPoolExecutor, fn: Callable[[str], _T], keys: list[str], depth: int) -> Iterator[_T]:
    """``fn`` of each key, in order, with ``depth`` calls running ahead in ``pool`` (no more: a
    paused consumer holds at most ``depth`` results it has not asked for)."""
    todo = iter(keys)
    ahead: deque[Future[_T]] = deque(pool.submit(fn, k) for k in itertools.islice(todo, depth))
    while ahead:
        done = ahead.popleft()
        ahead.extend(pool.submit(fn, k) for k in itertools.islice(todo, 1))
        yield done.result()
