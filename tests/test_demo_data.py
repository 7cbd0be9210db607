"""The offline demo data set behind `tagscan demo` (tagscan.demo) and the default watchlist.

Every check here is computed with plain pandas on the files the generator writes, so a broken
generator (lost planted effect, label outside the vocabulary, nondeterminism) fails a test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from tagscan.demo import DEMO_ATTRIBUTES, PLANTED, PlantedAssociation, build_demo, demo_vocabulary
from tagscan.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
WATCHLIST = ROOT / "tagscan" / "data" / "watchlist.yaml"
WATCHLIST_COPY = ROOT / "configs" / "watchlist.yaml"
FILES = ("data/samples.parquet", "data/predictions.parquet", "data/vocabulary.parquet", "tagscan.yaml")
VALUES = {
    "skin_tone": {"light", "medium", "dark"},
    "gender": {"woman", "man"},
    "age_group": {"child", "adult", "senior"},
}
PERSON_WORDS = re.compile(
    r"\b(?:man|woman|men|women|boy|girl|child|children|person|people|kid|baby|he|she)\b", re.I
)
THRESHOLD = 0.5


def _norm(s: str) -> str:
    return re.sub(r"[\s_\-]+", " ", s.strip().lower())


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("demo")
    return out, build_demo(out)


@pytest.fixture(scope="module")
def samples(built) -> pd.DataFrame:
    return pd.read_parquet(built[0] / "data" / "samples.parquet")


@pytest.fixture(scope="module")
def predictions(built) -> pd.DataFrame:
    return pd.read_parquet(built[0] / "data" / "predictions.parquet")


@pytest.fixture(scope="module")
def vocabulary(built) -> pd.DataFrame:
    return pd.read_parquet(built[0] / "data" / "vocabulary.parquet")


@pytest.fixture(scope="module")
def people(samples) -> pd.DataFrame:
    return samples[samples["skin_tone"].notna()]


@pytest.fixture(scope="module")
def positives(predictions) -> pd.DataFrame:
    return predictions[predictions["score"] >= THRESHOLD]


def _has_label(frame: pd.DataFrame, positives: pd.DataFrame, label: str) -> pd.Series:
    return frame["sample_id"].isin(positives.loc[positives["label"] == label, "sample_id"])


def _group_mask(frame: pd.DataFrame, group: str) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for part in group.split(" & "):
        attr, value = part.split("=")
        mask &= frame[attr] == value
    return mask


# --- files and config -----------------------------------------------------------------------


def test_build_writes_the_files_and_returns_the_config_path(built):
    out, config = built
    assert config == out / "tagscan.yaml"
    for rel in FILES:
        assert (out / rel).is_file(), rel


def test_config_has_exactly_the_documented_keys_and_paths_that_resolve(built):
    out, config = built
    cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
    assert list(cfg) == ["name", "workspace", "model", "data", "embed", "groups", "scan", "review"]
    assert cfg["name"] == "demo-photo-tagger"
    assert cfg["workspace"] == ".tagscan"
    assert cfg["model"] == {"name": "demo-photo-tagger", "version": "v1"}
    assert cfg["data"] == {
        "samples": "data/samples.parquet",
        "predictions": "data/predictions.parquet",
        "truth": None,
        "vocabulary": "data/vocabulary.parquet",
        "embeddings": None,
    }
    for key in ("samples", "predictions", "vocabulary"):
        assert (config.parent / cfg["data"][key]).is_file()
    assert cfg["embed"] == {"input": "text", "model": "default"}
    assert cfg["groups"] == {
        "attributes": ["skin_tone", "gender", "age_group"],
        "protected": ["skin_tone", "gender", "age_group"],
        "intersections": [["skin_tone", "gender"]],
        "clusters": [16, 64],
        "min_group_size": 30,
    }
    assert tuple(cfg["groups"]["attributes"]) == DEMO_ATTRIBUTES
    assert cfg["scan"] == {"threshold": 0.5, "fdr": 0.05, "watchlist": "default"}
    assert cfg["review"] == {
        "url": "http://127.0.0.1:8080",
        "api_key_env": "LABEL_STUDIO_API_KEY",
        "examples_per_finding": 8,
    }


def test_parquet_column_types(built):
    out, _ = built
    types = {
        rel: {f.name: str(f.type).replace("large_string", "string") for f in pq.read_schema(out / rel)}
        for rel in FILES[:3]
    }
    assert types["data/samples.parquet"] == {
        "sample_id": "string",
        "text": "string",
        "skin_tone": "string",
        "gender": "string",
        "age_group": "string",
    }
    assert types["data/predictions.parquet"] == {"sample_id": "string", "label": "string", "score": "double"}
    assert types["data/vocabulary.parquet"] == {"label": "string", "name": "string", "description": "string"}


# --- samples --------------------------------------------------------------------------------


def test_samples_have_unique_ids_and_texts(samples):
    assert len(samples) == 8000
    assert samples["sample_id"].is_unique
    assert samples["sample_id"].str.fullmatch(r"photo-\d{6}").all()
    assert samples["text"].notna().all()
    words = samples["text"].str.split().str.len()
    assert words.between(8, 25).all(), samples.loc[~words.between(8, 25), "text"].tolist()[:5]
    assert samples["text"].nunique() > 0.6 * len(samples)  # varied templates, not one sentence per kind


def test_attributes_are_null_exactly_on_photos_without_people(samples, people):
    isna = samples[list(DEMO_ATTRIBUTES)].isna()
    assert (isna.all(axis=1) | ~isna.any(axis=1)).all()  # all three set, or all three null
    for attr, values in VALUES.items():
        assert set(people[attr].unique()) == values
    share = len(people) / len(samples)
    assert 0.50 <= share <= 0.60
    no_people = samples[samples["skin_tone"].isna()]
    mentions = no_people["text"].str.contains(PERSON_WORDS)
    assert not mentions.any(), no_people.loc[mentions, "text"].tolist()[:5]


def test_group_sizes_support_the_scan(people):
    for attr in DEMO_ATTRIBUTES:
        counts = people[attr].value_counts()
        assert counts.min() >= 800, (attr, counts.to_dict())
    inter = people.groupby(["skin_tone", "gender"]).size()
    assert inter.min() >= 500, inter.to_dict()


def test_person_texts_describe_the_person_with_neutral_descriptors(people):
    for row in people.itertuples(index=False):
        text = row.text.lower()
        noun = {"child": "girl" if row.gender == "woman" else "boy"}.get(row.age_group, row.gender)
        assert re.search(rf"\b{noun}\b", text), row.text
        assert re.search(rf"\b{row.skin_tone}(-skinned| skin)\b", text), row.text
        others = VALUES["skin_tone"] - {row.skin_tone}
        assert not any(re.search(rf"\b{o}(-skinned| skin)\b", text) for o in others), row.text
        if row.age_group == "senior":
            assert re.search(r"\b(older|elderly|senior|seventies|eighties)\b", text), row.text


# --- vocabulary -----------------------------------------------------------------------------


def test_vocabulary_is_large_unique_and_named(vocabulary):
    assert len(vocabulary) >= 2000
    assert vocabulary["label"].is_unique
    assert vocabulary["label"].str.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*").all()
    assert vocabulary["name"].notna().all() and (vocabulary["name"].str.strip() != "").all()
    assert vocabulary["name"].str.lower().is_unique
    assert (vocabulary["description"].str.len() > 0).all()
    # the id is the name as a slug
    slug = vocabulary["name"].str.lower().str.replace("'", "").str.replace(r"[^a-z0-9]+", "_", regex=True)
    assert (slug.str.strip("_") == vocabulary["label"]).all()


def test_vocabulary_covers_a_photo_taggers_domains(vocabulary):
    labels = set(vocabulary["label"])
    expected = {
        "gorilla",
        "chimpanzee",
        "ape",
        "monkey",
        "orangutan",
        "baboon",
        "golden_retriever",
        "person",
        "man",
        "woman",
        "child",
        "portrait",
        "smile",
        "crowd",
        "dress",
        "pizza",
        "beach",
        "laptop",
        "bicycle",
        "running",
        "soccer",
        "rain",
        "red",
        "criminal",
        "mugshot",
        "thief",
        "prison",
        "police",
        "handcuffs",
        "toy",
        "playground",
        "cane",
        "wheelchair",
        "red_car",
        "wooden_table",
    }
    assert expected <= labels, expected - labels


def test_demo_vocabulary_matches_the_written_table(vocabulary):
    pd.testing.assert_frame_equal(demo_vocabulary().astype(str), vocabulary.astype(str))


# --- predictions ----------------------------------------------------------------------------


def test_predictions_are_well_formed(samples, predictions, vocabulary):
    assert list(predictions.columns) == ["sample_id", "label", "score"]
    assert predictions["score"].dtype == "float64"
    assert predictions["score"].between(0.0, 1.0).all()
    assert not predictions.duplicated(["sample_id", "label"]).any()
    assert predictions["sample_id"].isin(samples["sample_id"]).all()
    unknown = set(predictions["label"]) - set(vocabulary["label"])
    assert not unknown, sorted(unknown)[:10]


def test_about_8_to_15_predictions_per_photo(samples, predictions):
    per = predictions.groupby("sample_id").size().reindex(samples["sample_id"], fill_value=0)
    assert per.between(8, 15).all()
    assert 10 <= per.mean() <= 14
    below = (predictions["score"] < THRESHOLD).groupby(predictions["sample_id"]).sum()
    assert (below > 0).mean() > 0.8  # low-score noise on most photos


def test_every_person_photo_is_tagged_person(people, positives):
    assert _has_label(people, positives, "person").all()


def test_tags_follow_the_content(samples, positives):
    beach = samples[samples["text"].str.contains(r"\bbeach\b") & samples["skin_tone"].isna()]
    assert len(beach) > 30
    assert _has_label(beach, positives, "sand").mean() > 0.5
    assert _has_label(beach, positives, "beach").mean() > 0.8


# --- planted and benign associations --------------------------------------------------------


def test_planted_associations_are_declared_as_tagscan_names_them(vocabulary):
    assert len(PLANTED) >= 2
    assert all(isinstance(p, PlantedAssociation) for p in PLANTED)
    kinds = {p.kind for p in PLANTED}
    assert kinds == {"attribute", "intersection"}
    for p in PLANTED:
        assert p.label in set(vocabulary["label"])
        parts = p.group.split(" & ")
        assert (len(parts) == 1) == (p.kind == "attribute")
        attrs = [part.split("=")[0] for part in parts]
        assert attrs == sorted(attrs, key=DEMO_ATTRIBUTES.index)  # config order
        for part in parts:
            attr, value = part.split("=")
            assert value in VALUES[attr]
        assert p.description
    assert PLANTED[0].label == "gorilla" and PLANTED[0].group == "skin_tone=dark"
    assert PLANTED[1].group == "skin_tone=dark & gender=man"


@pytest.mark.parametrize("planted", PLANTED, ids=lambda p: f"{p.label}@{p.group}")
def test_planted_rate_is_several_times_the_rate_among_other_people(planted, people, positives):
    hit = _has_label(people, positives, planted.label)
    in_group = _group_mask(people, planted.group)
    rate_in, rate_out = hit[in_group].mean(), hit[~in_group].mean()
    assert hit[in_group].sum() >= 20  # enough to be significant at n=8000
    assert 0.02 <= rate_in <= 0.08  # modest, not a wall
    assert rate_in >= 8 * max(rate_out, 1e-9), (rate_in, rate_out)


def test_the_crime_tag_is_an_intersection_effect(people, positives):
    planted = next(p for p in PLANTED if p.kind == "intersection")
    hit = _has_label(people, positives, planted.label)
    dark, man = people["skin_tone"] == "dark", people["gender"] == "man"
    rate = {
        "dark men": hit[dark & man].mean(),
        "dark women": hit[dark & ~man].mean(),
        "other men": hit[~dark & man].mean(),
        "marginal dark": hit[dark].mean(),
        "marginal men": hit[man].mean(),
    }
    assert rate["dark men"] >= 5 * rate["dark women"], rate
    assert rate["dark men"] >= 5 * rate["other men"], rate
    # each marginal group is elevated only by its dark-men share
    assert rate["marginal dark"] < 0.7 * rate["dark men"], rate
    assert rate["marginal men"] < 0.5 * rate["dark men"], rate


def test_gorilla_is_also_applied_legitimately_to_gorilla_photos(samples, positives):
    animals = samples[samples["skin_tone"].isna()]
    tagged = animals[_has_label(animals, positives, "gorilla")]
    assert len(tagged) >= 1
    assert tagged["text"].str.contains("gorilla").all(), tagged["text"].tolist()


def test_benign_associations_are_present(people, positives):
    def rate(label: str, attr: str, value: str) -> float:
        hit = _has_label(people, positives, label)
        return hit[people[attr] == value].mean()

    assert rate("toy", "age_group", "child") > 5 * max(rate("toy", "age_group", "adult"), 1e-3)
    assert rate("playground", "age_group", "child") > 5 * max(rate("playground", "age_group", "adult"), 1e-3)
    assert rate("cane", "age_group", "senior") > 3 * max(rate("cane", "age_group", "adult"), 1e-3)
    assert rate("wheelchair", "age_group", "senior") > 2 * rate("wheelchair", "age_group", "adult")
    assert rate("dress", "gender", "woman") > 5 * max(rate("dress", "gender", "man"), 1e-3)


def test_no_planted_label_varies_by_skin_tone_beyond_the_plants(people, positives):
    """Benign content tags are independent of skin tone: only the planted labels differ by it."""
    for label in ("person", "smile", "dog", "book", "t_shirt"):
        hit = _has_label(people, positives, label)
        rates = hit.groupby(people["skin_tone"]).mean()
        assert rates.max() - rates.min() < 0.05 + 0.5 * rates.mean(), (label, rates.to_dict())


# --- determinism and arguments --------------------------------------------------------------


def test_same_seed_gives_the_same_bytes_and_another_seed_other_data(tmp_path):
    a = build_demo(tmp_path / "a", n_samples=1500, seed=3).parent
    b = build_demo(tmp_path / "b", n_samples=1500, seed=3).parent
    c = build_demo(tmp_path / "c", n_samples=1500, seed=4).parent
    for rel in FILES:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    for rel in ("data/samples.parquet", "data/predictions.parquet"):
        assert not pd.read_parquet(a / rel).equals(pd.read_parquet(c / rel)), rel
    assert (a / "data/vocabulary.parquet").read_bytes() == (c / "data/vocabulary.parquet").read_bytes()
    assert len(pd.read_parquet(a / "data/samples.parquet")) == 1500


def test_rebuilding_into_the_same_folder_overwrites(tmp_path):
    build_demo(tmp_path, n_samples=300, seed=1)
    build_demo(tmp_path, n_samples=200, seed=1)
    assert len(pd.read_parquet(tmp_path / "data/samples.parquet")) == 200


def test_build_prints_nothing(tmp_path, capsys):
    build_demo(tmp_path, n_samples=50, seed=0)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.parametrize("n_samples", [0, -5, 2.5, True, "100"])
def test_bad_n_samples_is_a_usage_error(tmp_path, n_samples):
    with pytest.raises(
        UsageError, match=r"n_samples must be a positive integer; got .*; pass e\.g\. n_samples=8000"
    ):
        build_demo(tmp_path, n_samples=n_samples)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("seed", [-1, 1.0, None])
def test_bad_seed_is_a_usage_error(tmp_path, seed):
    with pytest.raises(UsageError, match=r"seed must be a non-negative integer; got .*; pass e\.g\. seed=0"):
        build_demo(tmp_path, seed=seed)


# --- watchlist ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def watchlist() -> dict:
    return yaml.safe_load(WATCHLIST.read_text(encoding="utf-8"))


def test_watchlist_copies_are_identical():
    assert WATCHLIST.read_bytes() == WATCHLIST_COPY.read_bytes()


def test_watchlist_structure(watchlist):
    assert set(watchlist) == {"version", "expand", "person_labels", "categories"}
    assert watchlist["version"] == 1
    assert watchlist["expand"] == {"min_closeness": 0.8, "min_zscore": 3.0, "max_per_term": 10}
    assert len(watchlist["categories"]) >= 5
    seen: set[str] = set()
    for name, cat in watchlist["categories"].items():
        assert set(cat) == {"weight", "description", "terms"}, name
        assert 0.0 < cat["weight"] <= 1.0, name
        assert cat["description"].strip(), name
        assert cat["terms"] and all(isinstance(t, str) and t.strip() for t in cat["terms"]), name
        norm = {_norm(t) for t in cat["terms"]}
        assert len(norm) == len(cat["terms"]), f"{name}: duplicate terms"
        assert not norm & seen, f"{name}: terms listed in another category: {norm & seen}"
        seen |= norm
    assert watchlist["categories"]["dehumanizing"]["weight"] == 1.0
    assert max(c["weight"] for c in watchlist["categories"].values()) == 1.0


def test_watchlist_covers_the_planted_labels(watchlist, vocabulary):
    names = dict(zip(vocabulary["label"], vocabulary["name"]))
    terms = {_norm(t): cat for cat, c in watchlist["categories"].items() for t in c["terms"]}
    for p in PLANTED:
        assert _norm(p.label) in terms or _norm(names[p.label]) in terms, p.label
    assert terms["gorilla"] == "dehumanizing"
    assert terms["mugshot"] == "criminality"


def test_watchlist_person_labels_are_demo_labels(watchlist, vocabulary):
    labels = {_norm(x) for x in vocabulary["label"]}
    assert {"person", "man", "woman", "child", "boy", "girl", "people", "portrait", "face", "crowd"} <= {
        _norm(x) for x in watchlist["person_labels"]
    }
    missing = [x for x in watchlist["person_labels"] if _norm(x) not in labels]
    assert not missing


def test_default_watchlist_loads_with_tagscan(watchlist):
    from tagscan.scan.watchlist import DEFAULT_WATCHLIST, load_watchlist

    assert DEFAULT_WATCHLIST.resolve() == WATCHLIST.resolve()
    wl = load_watchlist(DEFAULT_WATCHLIST)
    assert set(wl.categories) == set(watchlist["categories"])


def test_one_planted_effect_type_for_the_demo_and_the_tests():
    """The demo's harms and the tests' planted effects are the same Planted type, with the group id a scan gives."""
    from tagscan.demo.effects import Planted
    from tagscan.demo.planted import SynthSpec

    assert all(isinstance(p, Planted) for p in PLANTED)
    assert [p.group for p in PLANTED] == ["skin_tone=dark", "skin_tone=dark & gender=man"]
    mugshot = PLANTED[1]
    assert mugshot.rate_for({"skin_tone": "dark", "gender": "man"}) == mugshot.rate
    assert mugshot.rate_for({"skin_tone": "dark", "gender": "woman"}) == mugshot.base < mugshot.rate
    assert SynthSpec(planted=[Planted("x", {"tone": "dark"}, 0.3)]).planted[0].kind == "attribute"
    with pytest.raises(ValueError, match="has no base rate outside tone=dark"):
        Planted("x", {"tone": "dark"}, 0.3).rate_for({"tone": "light"})
