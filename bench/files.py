"""A 100 MB file in and out, sealed, against plain copying (``cp``), rounds alternating.

    python -m bench.files [--megabytes 100] [--rounds 5] [--database-url URL]

Each round, in turn: ``cp`` of the file to a new one on the same filesystem; the local store
taking it as an upload does (read in pieces of whole chunks, sealed chunk by chunk, written to
a new blob on a thread beside; once more hashed beside, as when the uploader sends a digest)
and giving it back as a download does (opened chunk by chunk on a thread ahead, written to a
file); and
the whole way over HTTP: ``pserve production.ini`` on 127.0.0.1 with the local store in the
same directory, the file POSTed to ``/{t}/files`` and read back from ``…/content`` by a
streaming client. The figures: the medians of the rounds, as MB/s and as a fraction of ``cp``
(the aim: at least 0.7 for the store with sealing).
"""

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine

from tenantapp.files.actions import BODY_PIECE
from tenantapp.files.digests import Hashed
from tenantapp.files.overlap import BATCH, Ahead
from tenantapp.files.sealing import new_key, open_range, random_blob_id, seal_chunks
from tenantapp.files.storage import LocalStore

from .database import throwaway_database
from .dataset import make_tenants
from .serving import Server, free_port, pserve_env, tenantapp_ini

PIECE = 1024 * 1024


def timed(work) -> float:
    """Seconds ``work`` takes, started with no dirty pages: the kernel's writing back of the
    step before must not land in this one."""
    os.sync()
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def copy_with_cp(source: Path, target: Path) -> float:
    cp = shutil.which("cp") or "/bin/cp"
    spent = timed(lambda: subprocess.run([cp, str(source), str(target)], check=True))
    target.unlink()
    return spent


def store_upload(store: LocalStore, source: Path, key: bytes, hashed: bool) -> tuple[float, str]:
    """As an upload does: read in pieces, sealed, written beside; hashed beside when the
    uploader sent a digest (``hashed``)."""
    blob = random_blob_id()

    def work():
        digest = Hashed() if hashed else None

        def pieces(body):
            while piece := body.read(BODY_PIECE):
                if digest is not None:
                    digest.update(piece)
                yield piece

        with source.open("rb") as body:
            store.put(blob, seal_chunks(key, blob, pieces(body)))
        if digest is not None:
            digest.close()

    return timed(work), blob


def store_download(store: LocalStore, blob: str, key: bytes, size: int, target: Path) -> float:
    def work():
        """As a download does: opened on a thread ahead of the one that takes the bytes,
        which writes them a megabyte at a time."""
        pieces = open_range(key, blob, size, 0, size, lambda o, n: store.read(blob, o, n))
        with target.open("wb", buffering=0) as out:
            batch, held = [], 0
            for piece in Ahead(pieces, "bench"):
                batch.append(piece)
                held += len(piece)
                if held >= BATCH:
                    os.writev(out.fileno(), batch)
                    batch, held = [], 0
            os.writev(out.fileno(), batch)

    spent = timed(work)
    target.unlink()
    store.delete(blob)
    return spent


def http_upload(port: int, target, source: Path) -> tuple[float, int]:
    found = {}

    def work():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300, blocksize=PIECE)
        with source.open("rb") as body:
            connection.request(
                "POST",
                f"{target.prefix}/files?name=big.bin",
                body=body,
                headers={
                    "Authorization": f"Bearer {target.token}",
                    "Content-Length": str(source.stat().st_size),
                    "Content-Type": "application/octet-stream",
                },
            )
            answer = connection.getresponse()
            data = answer.read()
        connection.close()
        if answer.status != 201:
            raise SystemExit(f"upload: {answer.status} {data[:300]!r}")
        found["id"] = json.loads(data)["id"]

    return timed(work), found["id"]


def http_download(port: int, target, file_id: int, into: Path) -> float:
    def work():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300, blocksize=PIECE)
        connection.request(
            "GET",
            f"{target.prefix}/files/{file_id}/content",
            headers={"Authorization": f"Bearer {target.token}"},
        )
        answer = connection.getresponse()
        if answer.status != 200:
            raise SystemExit(f"download: {answer.status}")
        with into.open("wb", buffering=PIECE) as out:
            while piece := answer.read(PIECE):
                out.write(piece)
        connection.close()

    spent = timed(work)
    into.unlink()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request(
        "DELETE",
        f"{target.prefix}/files/{file_id}",
        headers={"Authorization": f"Bearer {target.token}"},
    )
    connection.getresponse().read()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: embedded)")
    args = parser.parse_args()
    size = args.megabytes * 1024 * 1024
    with (
        tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp,
        throwaway_database(args.database_url) as url,
    ):
        tmp = Path(tmp)
        source = tmp / "source.bin"
        with source.open("wb") as out:
            for _ in range(args.megabytes):
                out.write(os.urandom(PIECE))
        engine = create_engine(url)
        (target,) = make_tenants(engine, 1, 1)
        engine.dispose()
        files = tmp / "files"
        store, key = LocalStore(files), new_key()
        # a deleted file's blob removed at once: blobs kept round after round grow the page
        # cache into memory this VM has not touched yet, and every step after slows (cp too)
        ini = tenantapp_ini(
            tmp, [f"tenantapp.files.dir={files}", "tenantapp.files.keep_deleted_days=0"]
        )
        server = Server(
            "tenantapp",
            [str(Path(sys.executable).with_name("pserve")), str(ini)],
            pserve_env(url),
            free_port(),
            tmp / "tenantapp.log",
        )
        server.argv.append(f"http_port={server.port}")
        server.start()
        spent: dict[str, list[float]] = {}
        try:
            for number in range(args.rounds):
                round_ = {"cp": copy_with_cp(source, tmp / "copy.bin")}
                round_["store, upload"], blob = store_upload(store, source, key, False)
                round_["store, upload+sha256"], hashed = store_upload(store, source, key, True)
                store.delete(hashed)
                round_["store, download"] = store_download(store, blob, key, size, tmp / "out")
                round_["HTTP, upload"], file_id = http_upload(server.port, target, source)
                round_["HTTP, download"] = http_download(server.port, target, file_id, tmp / "o")
                for name, seconds in round_.items():
                    spent.setdefault(name, []).append(seconds)
                print(
                    f"round {number + 1}: "
                    + ", ".join(f"{n} {s * 1000:.0f} ms" for n, s in round_.items()),
                    flush=True,
                )
        finally:
            server.stop()
        cp = statistics.median(spent["cp"])
        print(f"\n{args.megabytes} MB, medians of {args.rounds} rounds:")
        for name, seconds in spent.items():
            median = statistics.median(seconds)
            print(
                f"  {name:16} {median * 1000:6.0f} ms  {args.megabytes / median:7.0f} MB/s"
                f"  {cp / median:5.2f}x cp"
            )


if __name__ == "__main__":
    main()
