"""Which landing files exist, which are new, and reading them: reusable by every consumer.

Files are listed through dlt's filesystem source (fsspec underneath: a local folder or
``s3://bucket/prefix`` with dlt's usual credentials, e.g. ``AWS_*`` or
``SOURCES__FILESYSTEM__CREDENTIALS__*``). "New" is decided against a *manifest of file keys*
(a consumer's own table), never by folder name or a modification-time cursor: a Kafka sink
writes late events as new part files inside old ``dt=/hour=`` folders, and an upload's
modification time says nothing about the events inside.

The ingestion keeps its manifest in ``raw_events.landing_manifest``; the 5-minute ops refresh
can keep its own (``manifest_table=...``) and reuse :func:`list_landing_files`,
:func:`new_files`, :func:`batches` and :func:`read_batch` unchanged.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import polars as pl
from dlt.common.configuration import resolve_configuration
from dlt.common.storages.fsspec_filesystem import fsspec_from_config
from dlt.sources.filesystem import filesystem
from dlt.sources.filesystem.helpers import FilesystemConfigurationResource

from connectors.product_events import settings as S
from connectors.product_events.parse import FileLines, decompress, split_lines

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
class FileReader:
    """Reads landing files through the same fsspec filesystem dlt uses for ``landing_url``."""

    landing_url: str

    def _fs(self) -> tuple[Any, str]:
        # Same config sections as dlt's filesystem resource, so one set of credentials serves both.
        cfg = resolve_configuration(
            FilesystemConfigurationResource(bucket_url=normalise_url(self.landing_url)),
            sections=("sources", "filesystem"),
        )
        fs, root = fsspec_from_config(cfg)
        return fs, fs._strip_protocol(root if "://" in root else normalise_url(self.landing_url))

    def read(self, files: pl.DataFrame, threads: int = 2) -> list[FileLines]:
        """Fetch, gunzip and split the given files (zlib and S3 I/O release the GIL: threads help)."""
        fs, root = self._fs()

        def one(row: tuple[str, str]) -> FileLines:
            key, _url = row
            with fs.open(posixpath.join(root, key), "rb") as fh:
                data = fh.read()
            text, truncated = decompress(data)
            return split_lines(key, text, truncated)

        rows = list(zip(files["file_key"].to_list(), files["file_url"].to_list(), strict=True))
        if threads <= 1 or len(rows) <= 1:
            return [one(r) for r in rows]
        with ThreadPoolExecutor(max_workers=threads) as pool:
            return list(pool.map(one, rows))


def read_batch(landing_url: str, files: pl.DataFrame, threads: int = 2) -> list[FileLines]:
    """Read one batch of landing files into lines (see :class:`FileReader`)."""
    return FileReader(landing_url).read(files, threads=threads)
