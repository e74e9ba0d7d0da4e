"""The course's sentiment-classification data, with the schema of GLUE's SST-2.

Every split has the columns ``idx`` (int32), ``sentence`` (lower-case text, punctuation
split off by spaces as in SST-2) and ``label`` (``ClassLabel`` 0 = negative, 1 = positive),
and the data come as a ``datasets.DatasetDict`` with the splits ``train`` and ``validation``.

Two sources give that shape:

* ``"generated"`` (the offline smoke path): short movie-review sentences written by
  :func:`make_sentiment` from a seeded ``random.Random``. The same seed gives the same rows
  on every machine. The sentences use negation ("never boring" is positive), contrast
  ("x , but y" and "although x , y" take the label of y), intensifiers, hedges, several
  aspects of a film and neutral filler, so no single word decides the label, but a
  bag of words and bigrams learns most of it.
* ``"sst2"`` (the full path): the real SST-2 from the Hugging Face Hub
  (``stanfordnlp/sst2``), or local csv / tsv / json / jsonl / parquet files with the columns
  ``sentence`` and ``label``, checked and brought to the same schema.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftcourse._util import check_positive_int

if TYPE_CHECKING:
    import datasets

LABEL_NAMES = ("negative", "positive")
SOURCES = ("generated", "sst2")
SPLITS = ("train", "validation")
SST2_HUB_ID = "stanfordnlp/sst2"

# Local file suffix -> (datasets builder, extra keyword arguments for load_dataset).
_FILE_BUILDERS: dict[str, tuple[str, dict[str, Any]]] = {
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"sep": "\t"}),  # GLUE ships SST-2 as train.tsv / dev.tsv
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
    ".parquet": ("parquet", {}),
}
# Names a local layout may use for the held-out split, in order of preference.
_VALIDATION_ALIASES = ("validation", "dev", "test")
_SINGLE_FILE_VALIDATION_FRACTION = 0.1

# ---------------------------------------------------------------------------------------
# Vocabulary of the generated reviews. Index 0 = negative, 1 = positive.
# ---------------------------------------------------------------------------------------

# (subject, is_plural)
_ASPECTS: tuple[tuple[str, int], ...] = (
    ("the acting", 0), ("the plot", 0), ("the score", 0), ("the dialogue", 0),
    ("the pacing", 0), ("the cinematography", 0), ("the script", 0), ("the ending", 0),
    ("the direction", 0), ("the editing", 0), ("the soundtrack", 0), ("the story", 0),
    ("the humor", 0), ("the lead performance", 0), ("the camera work", 0),
    ("the screenplay", 0), ("the final act", 0), ("the premise", 0), ("this film", 0),
    ("the movie", 0), ("the performances", 1), ("the characters", 1), ("the jokes", 1),
    ("the action scenes", 1), ("the visuals", 1), ("the songs", 1), ("the supporting players", 1),
)
_ADJECTIVES: tuple[tuple[str, ...], tuple[str, ...]] = (
    ("dull", "clumsy", "bland", "tedious", "flat", "lifeless", "boring", "weak", "messy",
     "forgettable", "awful", "bad", "predictable", "stale", "hollow", "tiresome", "wooden",
     "sloppy", "shallow", "annoying"),
    ("superb", "brilliant", "gripping", "moving", "charming", "sharp", "gorgeous", "witty",
     "clever", "engaging", "delightful", "stunning", "tender", "fresh", "compelling", "great",
     "good", "excellent", "memorable", "funny"),
)
# (third person singular, plural / base form)
_VERBS: tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = (
    (("drags", "drag"), ("falls flat", "fall flat"), ("fails", "fail"), ("stumbles", "stumble"),
     ("misfires", "misfire"), ("disappoints", "disappoint"), ("grates", "grate"),
     ("wears thin", "wear thin")),
    (("works", "work"), ("shines", "shine"), ("soars", "soar"), ("delivers", "deliver"),
     ("sparkles", "sparkle"), ("impresses", "impress"), ("holds up", "hold up"), ("lands", "land")),
)
# (past tense, base form) for "i loved it" / "i did n't hate it".
_FIRST_PERSON: tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = (
    (("hated", "hate"), ("disliked", "dislike"), ("resented", "resent"), ("regretted", "regret")),
    (("loved", "love"), ("enjoyed", "enjoy"), ("admired", "admire"), ("liked", "like")),
)
_FIRST_PERSON_OBJECTS = ("it", "this film", "every minute of it", "the whole thing", "this movie")
# Negation goes with the idiomatic few ("not bad", "never boring", "not great", "never lands"),
# as in real reviews, so a bigram model can learn it from a few thousand sentences.
_NEGATABLE_ADJECTIVES = (("bad", "boring", "dull", "awful", "predictable", "weak"),
                         ("great", "good", "funny", "clever", "memorable", "fresh"))
_NEGATABLE_VERBS = ((("drags", "drag"), ("disappoints", "disappoint"), ("fails", "fail")),
                    (("works", "work"), ("lands", "land"), ("delivers", "deliver")))
_ADJ_NEGATIONS = ("not", "n't", "never")
# The clause that carries a contrast's verdict sometimes refers back to the film as "it".
_VERDICT_PRONOUN_ODDS = 0.4
_INTENSIFIERS = ("very", "truly", "really", "utterly", "thoroughly", "so", "genuinely", "consistently")
_HEDGES = ("somewhat", "fairly", "mostly", "rather", "pretty", "a little")
_VERB_ADVERBS = ("really", "truly", "mostly", "simply", "quickly")
_GENRES = ("drama", "comedy", "thriller", "romance", "documentary", "western", "musical",
           "horror film", "mystery", "biopic", "animated feature", "action movie", "war film")
_NP_TAILS = ("", "", "", " about grief", " set in rome", " from a first-time director",
             " with a famous cast", " about two brothers", " based on a novel")
_OPENERS = ("", "", "", "", "frankly , ", "in the end , ", "all in all , ", "to be honest , ",
            "set in a small town , ", "at nearly two hours , ", "based on a true story , ",
            "for a debut feature , ", "on the whole , ")
_CLOSERS = ("", "", "", "", " overall", " throughout", " from start to finish",
            " for most of its running time", " , as far as i can tell", " , if you ask me",
            " in the second half")
# Probability of (intensifier, hedge) before an adjective, by the clause's role: the clause
# that carries the verdict of a contrast is stated more strongly than the one conceded.
_MODIFIER_ODDS = {"plain": (0.2, 0.15), "main": (0.45, 0.05), "concede": (0.1, 0.35)}
_TEMPLATE_WEIGHTS = {
    "single": 34, "noun_phrase": 12, "first_person": 8, "and_pair": 14,
    "short_contrast": 12, "but": 10, "although": 7, "even_though": 3,
}


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


def make_sentiment(n_train: int = 2000, n_validation: int = 400, seed: int = 0) -> datasets.DatasetDict:
    """Generate the offline SST-2-like review set, so lessons run without a download."""
    import datasets

    _check_size("n_train", n_train)
    _check_size("n_validation", n_validation)
    rng = random.Random(seed)
    seen: set[str] = set()  # sentences are unique across both splits
    splits = {}
    for split, size in (("train", n_train), ("validation", n_validation)):
        labels = [i % 2 for i in range(size)]  # exactly balanced (one extra negative when odd)
        rng.shuffle(labels)
        sentences = [_unique_review(rng, label, seen) for label in labels]
        splits[split] = datasets.Dataset.from_dict(
            {"idx": list(range(size)), "sentence": sentences, "label": labels}, features=_features()
        )
    return datasets.DatasetDict(splits)


def load_sentiment(
    source: str = "generated",
    *,
    data_files: str | PathLike | Sequence[str | PathLike] | Mapping[str, Any] | None = None,
    n_train: int = 2000,
    n_validation: int = 400,
    seed: int = 0,
) -> datasets.DatasetDict:
    """Load the sentiment data from ``source`` ("generated" or "sst2") with one SST-2 schema for every lesson.

    ``n_train``, ``n_validation`` and ``seed`` size and seed the generated set; for "sst2" the
    files are used whole, except that a single file without a validation split gives 10 % of
    its rows (shuffled with ``seed``) to ``validation``.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown sentiment source {source!r}; valid sources: {', '.join(map(repr, SOURCES))}")
    _check_size("n_train", n_train)
    _check_size("n_validation", n_validation)
    if source == "generated":
        if data_files is not None:
            raise ValueError("data_files is only read with source='sst2'; the 'generated' source writes its own data")
        return make_sentiment(n_train=n_train, n_validation=n_validation, seed=seed)
    return _load_sst2(data_files, seed)


# ---------------------------------------------------------------------------------------
# Generated reviews
# ---------------------------------------------------------------------------------------


def _features() -> datasets.Features:
    import datasets

    return datasets.Features({
        "idx": datasets.Value("int32"),
        "sentence": datasets.Value("string"),
        "label": datasets.ClassLabel(names=list(LABEL_NAMES)),
    })


def _check_size(name: str, value: int) -> None:
    check_positive_int(name, value)


def _unique_review(rng: random.Random, label: int, seen: set[str]) -> str:
    for _ in range(1000):
        sentence = _review(rng, label)
        if sentence not in seen:
            seen.add(sentence)
            return sentence
    raise ValueError(f"could not write {len(seen) + 1} distinct reviews; ask for fewer rows")


def _review(rng: random.Random, label: int) -> str:
    names = list(_TEMPLATE_WEIGHTS)
    template = rng.choices(names, weights=[_TEMPLATE_WEIGHTS[n] for n in names])[0]
    other = 1 - label
    first, second = rng.sample(_ASPECTS, 2)
    verdict = ("it", 0) if rng.random() < _VERDICT_PRONOUN_ODDS else second
    if template == "single":
        text = f"{rng.choice(_OPENERS)}{_clause(rng, label, first)}{rng.choice(_CLOSERS)}"
    elif template == "noun_phrase":
        text = _noun_phrase(rng, label)
    elif template == "first_person":
        text = _first_person(rng, label)
    elif template == "and_pair":
        text = f"{rng.choice(_OPENERS)}{_clause(rng, label, first)} {rng.choice(('and', ', and'))} " \
               f"{_clause(rng, label, second)}"
    elif template == "short_contrast":
        text = _short_contrast(rng, label, first)
    elif template == "but":
        text = f"{_clause(rng, other, first, 'concede')} , {rng.choice(('but', 'yet', 'but overall'))} " \
               f"{_clause(rng, label, verdict, 'main')}"
    elif template == "although":
        text = f"{rng.choice(('although', 'while', 'though'))} {_clause(rng, other, first, 'concede')} , " \
               f"{_clause(rng, label, verdict, 'main')}"
    else:  # even_though: the verdict first, the concession after
        text = f"{_clause(rng, label, verdict, 'main')} , {rng.choice(('even though', 'even if'))} " \
               f"{_clause(rng, other, first, 'concede')}"
    return text + (" ." if rng.random() < 0.4 else "")


def _modifier(rng: random.Random, role: str) -> str:
    p_intensifier, p_hedge = _MODIFIER_ODDS[role]
    roll = rng.random()
    if roll < p_intensifier:
        return rng.choice(_INTENSIFIERS) + " "
    if roll < p_intensifier + p_hedge:
        return rng.choice(_HEDGES) + " "
    return ""


def _clause(rng: random.Random, polarity: int, aspect: tuple[str, int], role: str = "plain") -> str:
    """One clause about ``aspect`` whose sentiment is ``polarity``, sometimes said through a negation."""
    subject, plural = aspect
    be = "'s" if subject == "it" else ("is", "are")[plural]
    form = rng.random()
    if form < 0.55:  # "the plot is very gripping"
        return f"{subject} {be} {_modifier(rng, role)}{rng.choice(_ADJECTIVES[polarity])}"
    if form < 0.72:  # "the plot is never boring", "the acting is n't great"
        negation = rng.choice(_ADJ_NEGATIONS)
        if negation == "n't":
            be = ("is", "are")[plural]
        return f"{subject} {be} {negation} {rng.choice(_NEGATABLE_ADJECTIVES[1 - polarity])}"
    if form < 0.90:  # "the score soars"
        adverb = rng.choice(_VERB_ADVERBS) + " " if rng.random() < 0.25 else ""
        return f"{subject} {adverb}{rng.choice(_VERBS[polarity])[plural]}"
    # "the pacing never drags", "the jokes do n't land"
    verb = rng.choice(_NEGATABLE_VERBS[1 - polarity])
    negation = rng.choice(("never", "does not", "does n't") if not plural else ("never", "do not", "do n't"))
    return f"{subject} {negation} {verb[plural] if negation == 'never' else verb[1]}"


def _noun_phrase(rng: random.Random, label: int) -> str:
    genre = rng.choice(_GENRES)
    if rng.random() < 0.6:  # "a gripping thriller about grief"
        words = f"{_modifier(rng, 'plain')}{rng.choice(_ADJECTIVES[label])} {genre}"
        return f"{_article(words)} {words}{rng.choice(_NP_TAILS)}"
    return _clause(rng, label, (f"{_article(genre)} {genre} that", 0))  # "a comedy that never lands"


def _first_person(rng: random.Random, label: int) -> str:
    thing = rng.choice(_FIRST_PERSON_OBJECTS)
    if rng.random() < 0.65:  # "i loved every minute of it"
        return f"i {rng.choice(('', 'really ', 'honestly '))}{rng.choice(_FIRST_PERSON[label])[0]} {thing}"
    past, base = rng.choice(_FIRST_PERSON[1 - label])  # "i did n't hate it", "i never disliked it"
    negation = rng.choice(("did not", "did n't", "never"))
    return f"i {negation} {past if negation == 'never' else base} {thing}"


def _short_contrast(rng: random.Random, label: int, aspect: tuple[str, int]) -> str:
    """``the film is clever but hollow`` (negative) or ``predictable but never boring`` (positive)."""
    subject, plural = aspect
    be = ("is", "are")[plural]
    conceded = rng.choice(_ADJECTIVES[1 - label])
    if rng.random() < 0.3:  # both adjectives lean the other way; the negation flips the second
        others = [word for word in _NEGATABLE_ADJECTIVES[1 - label] if word != conceded]
        verdict = f"{rng.choice(('but', 'yet', ', but'))} {rng.choice(('not', 'never'))} {rng.choice(others)}"
    else:
        link = rng.choice(("but", "but ultimately", "yet", ", but"))
        verdict = f"{link} {_modifier(rng, 'main')}{rng.choice(_ADJECTIVES[label])}"
    return f"{subject} {be} {conceded} {verdict}"


def _article(words: str) -> str:
    return "an" if words[0] in "aeiou" else "a"


# ---------------------------------------------------------------------------------------
# SST-2 from the Hub or from local files
# ---------------------------------------------------------------------------------------


def _load_sst2(data_files: Any, seed: int) -> datasets.DatasetDict:
    import datasets

    if data_files is None:
        raw = datasets.load_dataset(SST2_HUB_ID)
        # The Hub's test split is unlabelled (label -1); the lessons evaluate on validation.
        return _normalise({split: raw[split] for split in SPLITS if split in raw},
                          {split: SST2_HUB_ID for split in SPLITS}, seed)
    files = _split_files(data_files)
    loaded, origins = {}, {}
    for split, paths in files.items():
        builder, kwargs = _builder_for(paths)
        origin = ", ".join(paths)
        try:
            loaded[split] = datasets.load_dataset(builder, data_files={split: paths}, split=split, **kwargs)
        except Exception as err:  # parsers raise many types (pyarrow, pandas, json); report them as one
            raise ValueError(
                f"could not read {origin} as {builder}: {err}; expected a {builder} file with the columns "
                f"'sentence' and 'label'"
            ) from err
        origins[split] = origin
    return _normalise(loaded, origins, seed)


def _split_files(data_files: Any) -> dict[str, list[str]]:
    """``data_files`` as ``{split: [path, ...]}``; a bare path or list of paths is the train split."""
    if isinstance(data_files, (str, PathLike)) or (
        isinstance(data_files, Sequence) and not isinstance(data_files, Mapping)
    ):
        data_files = {"train": data_files}
    if not isinstance(data_files, Mapping):
        raise TypeError(
            f"data_files must be a path, a list of paths or a dict of split -> path(s), got {type(data_files).__name__}"
        )
    known = ("train", *_VALIDATION_ALIASES)
    unknown = [split for split in data_files if split not in known]
    if unknown:
        raise ValueError(f"unknown split name(s) {unknown} in data_files; valid names: {', '.join(known)}")
    if "train" not in data_files:
        raise ValueError(f"data_files has no 'train' split (got {list(data_files)}); it needs one")
    files = {}
    for split, value in data_files.items():
        paths = [value] if isinstance(value, (str, PathLike)) else list(value)
        if not paths:
            raise ValueError(f"data_files[{split!r}] lists no files")
        for path in paths:
            if not Path(path).is_file():
                raise ValueError(f"data file {str(path)!r} for split {split!r} does not exist")
        files[split] = [str(path) for path in paths]
    return files


def _builder_for(paths: list[str]) -> tuple[str, dict[str, Any]]:
    suffixes = {Path(path).suffix.lower() for path in paths}
    unsupported = sorted(path for path in paths if Path(path).suffix.lower() not in _FILE_BUILDERS)
    if unsupported:
        raise ValueError(
            f"cannot tell the format of {', '.join(unsupported)}; expected a file ending in "
            f"{', '.join(_FILE_BUILDERS)}"
        )
    builders = {_FILE_BUILDERS[suffix][0] for suffix in suffixes}
    if len(builders) > 1 or suffixes == {".csv", ".tsv"}:
        raise ValueError(f"the files {', '.join(paths)} of one split mix formats; use one format per split")
    return _FILE_BUILDERS[suffixes.pop()]


def _normalise(loaded: Mapping[str, Any], origins: Mapping[str, str], seed: int) -> datasets.DatasetDict:
    """Check each split's columns and labels and bring it to the SST-2 features (adding ``idx``)."""
    import datasets

    splits = {"train": loaded["train"]} if "train" in loaded else {}
    held_out = next((name for name in _VALIDATION_ALIASES if name in loaded), None)
    if not splits:
        raise ValueError(f"no 'train' split in {', '.join(sorted(set(origins.values())))}")
    if held_out is None:  # a single file: hold out a deterministic tenth for validation
        train = _checked(splits["train"], origins["train"])
        parts = train.train_test_split(test_size=_SINGLE_FILE_VALIDATION_FRACTION, seed=seed, shuffle=True)
        splits = {"train": parts["train"], "validation": parts["test"]}
        origins = {"train": origins["train"], "validation": origins["train"]}
        return datasets.DatasetDict({split: _conform(ds, origins[split]) for split, ds in splits.items()})
    splits["validation"] = loaded[held_out]
    origins = {"train": origins["train"], "validation": origins[held_out]}
    return datasets.DatasetDict({split: _conform(_checked(ds, origins[split]), origins[split])
                                 for split, ds in splits.items()})


def _checked(ds: datasets.Dataset, origin: str) -> datasets.Dataset:
    """Raise ``ValueError`` naming ``origin`` unless ``ds`` has text ``sentence`` and 0/1 ``label`` columns."""
    import datasets

    expected = "expected columns 'sentence' (text) and 'label' (0 = negative, 1 = positive)"
    missing = [column for column in ("sentence", "label") if column not in ds.column_names]
    if missing:
        raise ValueError(
            f"{origin}: missing column {', '.join(map(repr, missing))}; {expected}, found {ds.column_names}"
        )
    if len(ds) == 0:
        raise ValueError(f"{origin}: no rows; {expected}")
    sentence, label = ds.features["sentence"], ds.features["label"]
    if not (isinstance(sentence, datasets.Value) and sentence.dtype in ("string", "large_string")):
        raise ValueError(f"{origin}: column 'sentence' holds {sentence}, not text; {expected}")
    if any(text is None for text in ds["sentence"]):
        raise ValueError(f"{origin}: column 'sentence' has empty rows; {expected}")
    if not (isinstance(label, datasets.ClassLabel) or (isinstance(label, datasets.Value)
                                                        and label.dtype.startswith(("int", "uint")))):
        raise ValueError(f"{origin}: column 'label' holds {label}, not integers; {expected}")
    bad = sorted({value for value in ds["label"] if value not in (0, 1)}, key=repr)
    if bad:
        raise ValueError(f"{origin}: column 'label' has values {bad[:5]} outside {{0, 1}}; {expected}")
    if "idx" in ds.column_names:
        idx = ds.features["idx"]
        if not (isinstance(idx, datasets.Value) and idx.dtype.startswith(("int", "uint"))):
            raise ValueError(f"{origin}: column 'idx' holds {idx}, not integers; expected integer row ids")
    return ds


def _conform(ds: datasets.Dataset, origin: str) -> datasets.Dataset:
    """Keep ``idx``, ``sentence``, ``label`` (numbering rows 0..n-1 when ``idx`` is absent) in SST-2 types."""
    if "idx" not in ds.column_names:
        ds = ds.add_column("idx", list(range(len(ds))))
    try:
        return ds.select_columns(["idx", "sentence", "label"]).cast(_features())
    except (ValueError, TypeError, OverflowError) as err:
        raise ValueError(f"{origin}: could not cast to the SST-2 features {_features()}: {err}") from err
