"""File names -> labelled table, bad files, and the content-keyed feature cache (no corpus data needed)."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
import soundfile as sf

from voxstream.audio.files import load_audio
from voxstream.engine.params import FeatureParams
from voxstream.engine.pooling import window_features
from voxstream.train.datasets import Parsed, map_label, parse_name, regex_parser, scan_folder, scan_folders

RATE = 16000


def tone(path, freq: float, seconds: float = 0.5, rate: int = RATE, channels: int = 1):
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * np.random.default_rng(int(freq)).standard_normal(len(t))
    subtype = "PCM_16" if str(path).endswith(".wav") else None  # flac/ogg: libsndfile's default
    sf.write(str(path), np.repeat(x[:, None], channels, axis=1), rate, subtype=subtype)
    return path


@pytest.mark.parametrize(
    "stem, emotion, speaker, corpus",
    [
        ("OAF_back_angry", "angry", "OAF", "tess"),
        ("OA_bite_neutral", "neutral", "OAF", "tess"),
        ("YAF_pain_ps", "ps", "YAF", "tess"),
        ("03-01-05-01-02-01-12", "angry", "12", "ravdess"),
        ("03-01-02-02-01-01-07", "calm", "07", "ravdess"),
        ("1001_DFA_ANG_XX", "angry", "1001", "crema-d"),
        ("1091_IEO_SAD_HI", "sad", "1091", "crema-d"),
        ("DC_a01", "anger", "DC", "savee"),
        ("JK_sa15", "sadness", "JK", "savee"),
        ("KL_su03", "surprise", "KL", "savee"),
        ("03a01Fa", "happiness", "03", "emodb"),
        ("16b10Lb", "boredom", "16", "emodb"),
        ("EB0_anger_1", "anger", "EB0", "nemo"),
        ("TP0_surprised_112", "surprised", "TP0", "nemo"),
        ("ema_angry_00201", "angry", "ema", "korean"),
        ("neo_neutral_00105", "neutral", "neo", "korean"),
    ],
)
def test_naming_schemes_are_detected(stem, emotion, speaker, corpus):
    """Each corpus' file name is recognised automatically with its emotion word and speaker."""
    assert parse_name(stem) == Parsed(emotion, speaker, corpus)


@pytest.mark.parametrize(
    "emotion, label",
    [
        ("angry", "angry"),
        ("calm", "neutral"),
        ("fearful", "fear"),
        ("surprised", "ps"),
        ("anger", "angry"),
        ("sadness", "sad"),
        ("surprise", "ps"),
        ("happiness", "happy"),
        ("boredom", None),
        ("sneezy", None),
    ],
)
def test_emotions_map_onto_product_labels(emotion, label):
    """Corpus emotion words map onto the seven product labels; boredom and unknown words are dropped."""
    assert map_label(emotion) == label


def test_label_map_overrides_and_drops():
    """A user mapping can drop RAVDESS calm or rename a custom word."""
    assert map_label("calm", {"calm": "drop"}) is None
    assert map_label("joy", {"joy": "happy"}) == "happy"


def test_nemo_surprise_is_dropped_unless_mapped_for_that_corpus():
    """nEMO's general surprise is dropped by default; ``nemo:surprised=ps`` maps it for nEMO only, while
    RAVDESS surprised stays ps either way."""
    assert map_label("surprised", corpus="nemo") is None
    assert map_label("surprised", corpus="ravdess") == "ps"
    assert map_label("surprised", {"nemo:surprised": "ps"}, corpus="nemo") == "ps"
    assert map_label("calm", {"ravdess:calm": "drop"}, corpus="ravdess") is None
    assert map_label("calm", {"nemo:calm": "drop"}, corpus="ravdess") == "neutral"


def test_scan_keeps_the_corpus_word_and_records_the_mapping(tmp_path):
    """The table keeps RAVDESS calm as its own word beside the label neutral, and the scan records which
    words became another label or were dropped (what the card reports)."""
    tone(tmp_path / "03-01-02-01-01-01-07.wav", 200)  # calm
    tone(tmp_path / "03-01-01-01-01-01-07.wav", 250)  # neutral
    tone(tmp_path / "KD0_surprised_3.wav", 300)
    tone(tmp_path / "KD0_sadness_4.wav", 350)
    scan = scan_folders([tmp_path])
    rows = sorted(zip(scan.table.corpus, scan.table.emotion, scan.table.label))
    assert rows == [("nemo", "sadness", "sad"), ("ravdess", "calm", "neutral"), ("ravdess", "neutral", "neutral")]
    assert scan.mapped == {"nemo": {"sadness": "sad", "surprised": "drop"}, "ravdess": {"calm": "neutral"}}
    assert scan_folders([tmp_path], label_map={"calm": "drop"}).mapped["ravdess"] == {"calm": "drop"}


def test_unknown_names_are_not_guessed():
    """Names of no scheme are not parsed; a named scheme only parses its own names."""
    assert parse_name("recording_final") is None
    assert parse_name("OAF_back_angry", scheme="ravdess") is None
    with pytest.raises(ValueError):
        parse_name("x", scheme="nope")


def test_user_regex_with_named_groups():
    """A user regex supplies label and speaker; without a label group it is refused."""
    parse = regex_parser(r"^(?P<speaker>spk\d+)-(?P<label>[a-z]+)-\d+$")
    assert parse("spk3-joy-01") == Parsed("joy", "spk3", "custom")
    assert parse("other") is None
    assert regex_parser(r"(?P<label>[a-z]+)$")("take_angry") == Parsed("angry", "unknown", "custom")
    with pytest.raises(ValueError):
        regex_parser(r"(?P<speaker>\w+)")


@pytest.fixture()
def mixed_folder(tmp_path):
    good = tmp_path / "data"
    (good / "sub").mkdir(parents=True)
    tone(good / "OAF_back_angry.wav", 200)
    tone(good / "OA_bite_neutral.wav", 300)
    tone(good / "sub" / "03-01-06-01-02-01-12.wav", 400, seconds=0.75, channels=2)
    tone(good / "1001_DFA_HAP_XX.flac", 500)
    tone(good / "DC_su01.ogg", 600)
    tone(good / "16b10Lb.wav", 700)  # EmoDB boredom: dropped
    tone(good / "03a01Wa.wav", 800, rate=22050)
    tone(good / "notes_for_me.wav", 900)  # no scheme
    (good / "empty_x_angry.wav").write_bytes(b"")
    (good / "junk_x_sad.wav").write_bytes(b"this is not audio at all" * 20)
    whole = tone(tmp_path / "whole.wav", 1000).read_bytes()
    (good / "cut_header_fear.wav").write_bytes(whole[:30])
    (good / "YAF_cut_disgust.wav").write_bytes(whole[: len(whole) // 2])
    (good / "readme.txt").write_text("not audio")
    return good


def test_scan_loads_good_files_and_skips_bad_ones(mixed_folder, caplog):
    """Good files of every scheme load; empty, junk and truncated files are named in a warning, counted and skipped."""
    with caplog.at_level(logging.WARNING):
        scan = scan_folder(mixed_folder)
    table = scan.table.sort_values("path").reset_index(drop=True)
    assert list(table.columns) == ["path", "label", "emotion", "speaker", "corpus", "duration"]
    assert sorted(zip(table.corpus, table.speaker, table.label)) == [
        ("crema-d", "1001", "happy"),
        ("emodb", "03", "angry"),
        ("ravdess", "12", "fear"),
        ("savee", "DC", "ps"),
        ("tess", "OAF", "angry"),
        ("tess", "OAF", "neutral"),
    ]
    durations = dict(zip(table.speaker + table.label, table.duration))
    assert durations["12fear"] == pytest.approx(0.75)
    assert durations["03angry"] == pytest.approx(0.5, abs=1e-3)
    assert scan.counts == {"undecodable": 4, "dropped": 1, "unrecognised": 1}  # readme.txt is not audio
    bad = {p.rsplit("/", 1)[-1] for p, reason in scan.skipped if reason.startswith("undecodable")}
    assert bad == {"empty_x_angry.wav", "junk_x_sad.wav", "cut_header_fear.wav", "YAF_cut_disgust.wav"}
    for name in bad | {"notes_for_me.wav"}:
        assert name in caplog.text


def test_truncated_wav_is_reported(mixed_folder):
    """A WAV cut in its data (header promises more) or in its header is reported with the reason."""
    scan = scan_folder(mixed_folder)
    reasons = {p.rsplit("/", 1)[-1]: r for p, r in scan.skipped}
    assert "truncated" in reasons["YAF_cut_disgust.wav"]
    assert reasons["cut_header_fear.wav"].startswith("undecodable")
    assert "empty" in reasons["empty_x_angry.wav"]


def test_scan_several_folders_and_missing_folder(mixed_folder, tmp_path):
    """Several folders are concatenated; a missing folder is an error naming it."""
    other = tmp_path / "other"
    other.mkdir()
    tone(other / "YAF_dog_sad.wav", 250)
    scan = scan_folders([mixed_folder, other])
    assert len(scan.table) == 7 and "sad" in set(scan.table.label)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        scan_folder(tmp_path / "nowhere")


def _rows(paths, params, windowing=None, cache=None, workers=1, variant="orig"):
    from voxstream.train.rows import Windowing, dataset_rows

    return dataset_rows(
        [str(p) for p in paths], params, windowing or Windowing(None), variant, cache_dir=cache, workers=workers
    )


def test_features_match_the_streaming_extractor(tmp_path):
    """Whole-clip and windowed rows equal window_features of the same samples."""
    from voxstream.train.rows import Windowing

    path = tone(tmp_path / "OAF_a_happy.wav", 440, seconds=2.6)
    params = FeatureParams()
    samples = load_audio(path, params.sample_rate)
    whole = _rows([path], params)
    np.testing.assert_array_equal(whole.x[0], window_features(samples, params))
    win = _rows([path], params, Windowing(2.0, 0.25))
    assert win.x.shape == (3, 40) and list(win.offs) == [0, 3]
    np.testing.assert_allclose(win.x[2], window_features(samples[8000:40000], params), rtol=0, atol=1e-5)


def test_cache_is_keyed_by_content_and_parameters(tmp_path):
    """Second run reads the cache; a renamed copy hits; changed bytes or parameters miss; files are pickle-free npz."""
    src = tmp_path / "src"
    src.mkdir()
    a = tone(src / "OAF_a_angry.wav", 220)
    b = tone(src / "OAF_b_sad.wav", 330)
    cache = tmp_path / "cache"
    params = FeatureParams()
    first = _rows([a, b], params, cache=cache)
    assert len(list(cache.rglob("*.npz"))) == 2
    second = _rows([a, b], params, cache=cache)
    np.testing.assert_array_equal(first.x, second.x)
    assert len(list(cache.rglob("*.npz"))) == 2
    _rows([shutil.copy(a, tmp_path / "renamed_x_angry.wav")], params, cache=cache)
    assert len(list(cache.rglob("*.npz"))) == 2  # same bytes, another name: a hit
    tone(a, 230)  # new content under the old name
    _rows([a], params, cache=cache)
    _rows([b], FeatureParams(pooling="mean_std_dstd_prosody"), cache=cache)
    files = list(cache.rglob("*.npz"))
    assert len(files) == 4
    with np.load(files[0], allow_pickle=False) as data:
        assert data["x"].dtype == np.float32


def test_rows_in_parallel_equal_rows_in_process(tmp_path):
    """Two worker processes give the same rows as one, clip by clip."""
    from voxstream.train.rows import Windowing

    paths = [tone(tmp_path / f"OAF_w{i}_angry.wav", 150 + 40 * i, seconds=2.5) for i in range(20)]
    params = FeatureParams()
    par = _rows(paths, params, Windowing(2.0, 0.25), workers=2)
    seq = _rows(paths, params, Windowing(2.0, 0.25), workers=1)
    np.testing.assert_array_equal(par.x, seq.x)
    np.testing.assert_array_equal(par.offs, seq.offs)


def _table(speakers_per_corpus: dict[str, list[str]], per_speaker: int = 14):
    import pandas as pd

    from voxstream.inference.card import LABELS

    rows = [
        (f"{c}/{s}_{i}.wav", LABELS[i % 7], s, c, 1.0)
        for c, speakers in speakers_per_corpus.items()
        for s in speakers
        for i in range(per_speaker)
    ]
    return pd.DataFrame(rows, columns=["path", "label", "speaker", "corpus", "duration"])


def test_random_split_is_stratified_and_seeded():
    """The random split holds out 20 % of every label, the same rows for the same seed."""
    from voxstream.train.splits import make_splits

    table = _table({"tess": ["OAF", "YAF"]}, per_speaker=70)
    a, b = make_splits(table, "random", 0)[0], make_splits(table, "random", 0)[0]
    assert np.array_equal(a.test, b.test) and len(np.intersect1d(a.train, a.test)) == 0
    assert set(table.label[a.test].value_counts()) == {4}
    assert not np.array_equal(a.test, make_splits(table, "random", 1)[0].test)


def test_speaker_split_holds_out_named_speakers():
    """speaker=A+B takes raw or corpus-qualified names; unknown speakers are an error naming them."""
    from voxstream.train.splits import make_splits

    table = _table({"tess": ["OAF", "YAF"], "ravdess": ["01", "02"]})
    split = make_splits(table, "speaker=OAF+ravdess:02")[0]
    assert set(table.speaker[split.test]) == {"OAF", "02"} and set(table.speaker[split.train]) == {"YAF", "01"}
    with pytest.raises(ValueError, match="XYZ"):
        make_splits(table, "speaker=XYZ")


def test_leave_speakers_out_folds_partition_the_speakers():
    """k folds of speakers: each speaker is tested exactly once and never trained on in its fold."""
    from voxstream.train.splits import make_splits

    table = _table({"ravdess": [f"{i:02d}" for i in range(1, 17)]})
    folds = make_splits(table, "lso=4")
    tested = [set(table.speaker[f.test]) for f in folds]
    assert [len(t) for t in tested] == [4, 4, 4, 4] and set().union(*tested) == set(table.speaker)
    for fold, held in zip(folds, tested):
        assert not held & set(table.speaker[fold.train])
    with pytest.raises(ValueError):
        make_splits(table, "lso=17")


def test_named_splits_follow_the_protocol():
    """lao: 4 folds of 4 RAVDESS actors with TESS in training; tess-cross: OAF<->YAF; :N picks one fold."""
    from voxstream.train.splits import available, make_splits

    table = _table({"tess": ["OAF", "YAF"], "ravdess": [f"{i:02d}" for i in range(1, 17)]})
    lao = make_splits(table, "lao")
    assert len(lao) == 4 and set(table.speaker[lao[1].test]) == {"05", "06", "07", "08"}
    assert {"OAF", "YAF"} <= set(table.speaker[lao[1].train]) and "05" not in set(table.speaker[lao[1].train])
    assert not {"OAF", "YAF"} & set(table.speaker[make_splits(table, "lao-without-tess")[0].train])
    cross = make_splits(table, "tess-cross")
    assert [set(table.speaker[s.test]) for s in cross] == [{"YAF"}, {"OAF"}]
    assert set(table.speaker[cross[0].train]) == {"OAF"}
    one = make_splits(table, "lao:3")
    assert len(one) == 1 and np.array_equal(one[0].test, lao[2].test)
    assert list(available(table, ["standard"])) == ["tess-random", "tess-cross", "lao", "loco"]
    assert list(available(_table({"tess": ["OAF", "YAF"]}), ["standard"])) == ["tess-random", "tess-cross"]


@pytest.mark.parametrize("spec", ["tess", "lao:9", "lso=x", "speaker="])
def test_bad_split_specs_are_one_clear_error(spec):
    """A malformed or impossible spec is a ValueError naming it."""
    from voxstream.train.splits import make_splits

    table = _table({"tess": ["OAF", "YAF"], "ravdess": ["01", "02"]})
    with pytest.raises(ValueError, match="split"):
        make_splits(table, spec)


def test_classify_and_the_training_scan_list_the_same_files(tmp_path):
    """One rule for which files of a folder are audio: `classify` (find_audio_files) and the training scan
    (scan_folders) see the same files in a folder of mixed names: upper-case suffixes, flac, text, hidden files
    and a hidden folder."""
    from voxstream.audio.files import find_audio_files

    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    (folder / ".cache").mkdir()
    tone(folder / "OAF_back_angry.WAV", 300)
    tone(folder / "sub" / "03-01-06-01-02-01-12.wav", 400)
    tone(folder / "1001_DFA_HAP_XX.flac", 500)
    tone(folder / "DC_su01.Ogg", 600)
    tone(folder / ".OAF_hidden_sad.wav", 700)  # hidden file
    tone(folder / "._OAF_fork_sad.wav", 700)  # macOS resource fork name
    tone(folder / ".cache" / "OAF_cached_sad.wav", 700)  # inside a hidden folder
    tone(folder / "notes_for_me.wav", 900)  # audio, but no naming scheme: listed, then skipped as unrecognised
    (folder / "readme.txt").write_text("not audio")
    (folder / "OAF_text_sad.txt").write_text("not audio either")
    (folder / "labels.csv").write_text("a,b\n")

    listed = [str(p) for p in find_audio_files([folder])]
    scan = scan_folders([folder])
    scanned = sorted(list(scan.table["path"]) + [p for p, _ in scan.skipped])
    assert sorted(listed) == scanned
    assert sorted(p.rsplit("/", 1)[-1] for p in listed) == [
        "03-01-06-01-02-01-12.wav",
        "1001_DFA_HAP_XX.flac",
        "DC_su01.Ogg",
        "OAF_back_angry.WAV",
        "notes_for_me.wav",
    ]
    assert scan.counts == {"unrecognised": 1}
