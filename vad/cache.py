"""On-disk cache of frame embeddings, so anything downstream of the encoder (prompt bank,
context, smoothing) re-scores in seconds without decoding or encoding again.

Entries are plain ``.npz`` files (never pickled), keyed by the video's content hash and
everything that shapes the embeddings: model, weights, preprocessing, runtime and precision,
sampling rate. Each entry also records the runtime and precision that made it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
CACHE_VERSION = 3  # 2: PyAV first for backend auto; per-frame timestamps; 3: runtimes


def default_cache_dir() -> Path:
    """``$VAD_CACHE_DIR``, else ``$XDG_CACHE_HOME/vad``, else ``~/.cache/vad``."""
    env = os.environ.get("VAD_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vad"


@dataclass
class VideoEmbeddings:
    """Everything the scorer needs from one video: sampled-frame embeddings (N,D), their
    decoded-frame indices and times, and the decoded frame count and rate."""

    embeddings: np.ndarray
    indices: np.ndarray
    times: np.ndarray
    num_frames: int
    fps: float
    reported_frames: int = 0
    warnings: list[str] = field(default_factory=list)
    from_cache: bool = False
    frame_times: np.ndarray | None = None  # every decoded frame's time (s) when not i / fps
    made_by: dict = field(default_factory=dict)  # {"runtime", "precision"} of the encoder
    # what scoring derives from the embeddings alone (kNN graph, anchor), kept for re-scoring
    derived: dict = field(default_factory=dict, repr=False, compare=False)


_HASHES: dict[tuple, str] = {}


def file_signature(path: str | Path) -> tuple:
    """What changes whenever the file's content does: its identity, size, and modification and
    change times (``touch`` can reset the mtime of a rewritten file, not its ctime)."""
    st = Path(path).stat()
    return (str(Path(path).resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
            st.st_ctime_ns)  # fmt: skip


def content_hash(path: str | Path, chunk: int = 1 << 20, fresh: bool = False) -> str:
    """BLAKE2b of the file's bytes (memoised per :func:`file_signature` within a process;
    ``fresh`` reads the file again whatever the memo says)."""
    path = Path(path)
    memo = file_signature(path)
    if fresh or memo not in _HASHES:
        h = hashlib.blake2b(digest_size=20)
        with open(path, "rb") as f:
            while block := f.read(chunk):
                h.update(block)
        _HASHES[memo] = h.hexdigest()
    return _HASHES[memo]


def embedding_identity(encoder_identity: dict, backend: str) -> dict:
    """Everything besides the video and sampling rate that shapes cached frame embeddings:
    the encoder's identity and the decoder backend (backends can differ by a pixel or a frame).
    Both engines key the cache with this, so they share entries."""
    return {**encoder_identity, "backend": backend}


_KEYED: dict[str, tuple[Path, str]] = {}  # key -> (video, its content hash when keyed)


class EmbeddingCache:
    """Frame-embedding cache under ``root`` (``None`` = the user cache dir)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root).expanduser() if root else default_cache_dir()

    def key(
        self,
        video: str | Path,
        identity: dict,
        sample_fps: float | None,
        *,
        trust_signature: bool = False,
    ) -> str:
        """The entry's key. The video's content hash is kept with the key (in this process), so
        :meth:`still_valid` and :meth:`put` can tell whether the file changed while decoded.

        Every hash computed is remembered on disk under the file's signature (identity, size,
        modification and change times: any write changes them). ``trust_signature`` reads
        that memo instead of hashing again (``vad search`` over hours of footage: hashing reads
        every byte, seconds per hour of video; the memo is one small file)."""
        digest = self.remembered_hash(video) if trust_signature else None
        if digest is None:
            digest = content_hash(video)
            self.remember_hash(video, digest)
        fps = None if sample_fps is None else float(sample_fps)  # 2 and 2.0 are one key
        parts = {"v": CACHE_VERSION, "video": digest, "fps": fps, **identity}
        key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]
        _KEYED[key] = (Path(video), digest)
        return key

    @staticmethod
    def still_valid(key: str) -> bool:
        """False when the video ``key`` was made from has changed since (truncated, rewritten,
        replaced, removed): what was decoded is then not the content the key names, and caching
        it would serve the wrong frames to the next run on the restored file. True for a key
        made in another process (the process that decoded checks). Reads the file: call it
        once, after decoding."""
        if key not in _KEYED:
            return True
        path, digest = _KEYED[key]
        try:  # hashing reads the file again: a few percent of the time decoding it took
            now = content_hash(path, fresh=True)
        except OSError:
            now = None
        if now == digest:
            return True
        log.warning("%s changed while it was decoded: its embeddings are not cached", path)
        return False

    def key_matches(
        self, key: str, video: str | Path, identity: dict, sample_fps: float | None
    ) -> bool:
        """Whether ``video``'s content, read again now, still gives ``key`` (the check of
        :meth:`still_valid` for a key made in another process). True when the file cannot be
        read here (a cluster node without it): the process that decoded it could."""
        try:
            content_hash(video, fresh=True)  # refreshes the memo key() uses
            now = self.key(video, identity, sample_fps)
        except OSError:
            return True
        if now == key:
            return True
        log.warning("%s changed while it was decoded: its embeddings are not cached", video)
        return False

    def path(self, key: str) -> Path:
        return self.root / "embeddings" / key[:2] / f"{key}.npz"

    def _hash_memo(self, video: str | Path) -> Path:
        sig = hashlib.sha256(json.dumps(file_signature(video)).encode()).hexdigest()[:32]
        return self.root / "hashes" / sig[:2] / sig

    def remembered_hash(self, video: str | Path) -> str | None:
        """The content hash remembered for this very version of ``video``, or None."""
        try:
            text = self._hash_memo(video).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return text if len(text) == 40 and all(c in "0123456789abcdef" for c in text) else None

    def remember_hash(self, video: str | Path, digest: str) -> None:
        """Keep ``digest`` under ``video``'s signature (best effort: a read-only cache is fine)."""
        try:
            memo = self._hash_memo(video)
            if memo.is_file():
                return
            memo.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo.with_name(f".{memo.name}.{os.getpid()}.tmp")
            tmp.write_text(digest + "\n", encoding="ascii")
            tmp.replace(memo)
        except OSError as exc:
            log.debug("cannot remember the hash of %s (%s)", video, exc)

    def get(self, key: str) -> VideoEmbeddings | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                emb = VideoEmbeddings(
                    embeddings=z["embeddings"],
                    indices=z["indices"],
                    times=z["times"],
                    num_frames=int(meta["num_frames"]),
                    fps=float(meta["fps"]),
                    reported_frames=int(meta.get("reported_frames", 0)),
                    warnings=list(meta.get("warnings", [])),
                    from_cache=True,
                    frame_times=z["frame_times"] if "frame_times" in z.files else None,
                    made_by=dict(meta.get("made_by", {})),
                )
            n = len(emb.embeddings)
            ft = emb.frame_times
            if (
                emb.embeddings.ndim != 2
                or len(emb.indices) != n
                or len(emb.times) != n
                or (ft is not None and len(ft) != emb.num_frames)
            ):
                raise ValueError("inconsistent array shapes")
            return emb
        # a truncated or foreign file: BadZipFile / EOFError from the zip reader
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
            log.warning("ignoring unreadable cache entry %s (%s)", path, exc)
            return None

    def put(self, key: str, emb: VideoEmbeddings) -> None:
        """Store ``emb`` under ``key``, unless the video changed since the key was made."""
        if not self.still_valid(key):
            return
        _KEYED.pop(key, None)
        path = self.path(key)
        meta = {
            "num_frames": emb.num_frames,
            "fps": emb.fps,
            "reported_frames": emb.reported_frames,
            "warnings": emb.warnings,
            "made_by": emb.made_by,
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
            extra = {} if emb.frame_times is None else {"frame_times": emb.frame_times}
            np.savez(
                tmp,
                embeddings=emb.embeddings.astype(np.float32),
                indices=emb.indices,
                times=emb.times,
                meta=np.array(json.dumps(meta)),
                **extra,
            )
            tmp.replace(path)
        except OSError as exc:
            log.warning("cannot write embedding cache %s (%s)", path, exc)
