"""Label-level concepts from a JSON file, CUB's attribute annotations and an OpenAI-compatible LLM."""
from __future__ import annotations

import json
import time

import pytest
from fake_openai import closed_port_url, serve

from selfsynth.method.concepts import (CONCEPT_SYSTEM, attribute_phrase, concepts_from_cub_attributes,
                                       concepts_from_json, concepts_from_llm, parse_bullets)
from selfsynth.lmm.llm_client import LLMError
from selfsynth.method.concepts import ConceptsError

CLASSES = ["Black footed Albatross", "Laysan Albatross", "Sooty Albatross"]


# ---------------------------------------------------------------- JSON

def write(path, obj):
    path.write_text(json.dumps(obj))
    return path


def test_json_authors_file_matched_by_name(tmp_path):
    # the authors number classes from 1 in arbitrary order: ids must not be trusted over names
    f = write(tmp_path / "c.json", {
        "1": {"name": "Sooty_Albatross", "visual_features": ["dark sooty plumage", " "]},
        "2": {"name": "black-footed albatross", "visual_features": ["black feet", "dark bill"]},
        "3": {"name": "LAYSAN ALBATROSS", "visual_features": ["white head"]},
    })
    c = concepts_from_json(f, CLASSES)
    assert c == {"0": {"name": "Black footed Albatross", "visual_features": ["black feet", "dark bill"]},
                 "1": {"name": "Laysan Albatross", "visual_features": ["white head"]},
                 "2": {"name": "Sooty Albatross", "visual_features": ["dark sooty plumage"]}}


def test_json_matched_by_id_when_unnamed(tmp_path):
    f = write(tmp_path / "c.json", {str(i): {"visual_features": [f"f{i}"]} for i in range(3)})
    assert [v["visual_features"] for v in concepts_from_json(f, CLASSES).values()] == [["f0"], ["f1"], ["f2"]]


@pytest.mark.parametrize("data, message", [
    ({"0": {"name": "Black footed Albatross", "visual_features": ["a"]},
      "1": {"name": "Laysan Albatross", "visual_features": ["b"]}}, "class 2 ('Sooty Albatross'): no entry"),
    ({"0": {"name": "Black footed Albatross", "visual_features": ["a"]},
      "1": {"name": "Laysan Albatross", "visual_features": "white head"},
      "2": {"name": "Sooty Albatross", "visual_features": ["c"]}}, "class 1 ('Laysan Albatross'), entry '1': visual_features must be a list"),
    ({"0": {"name": "Black footed Albatross", "visual_features": ["a"]},
      "1": {"name": "Laysan Albatross", "visual_features": []},
      "2": {"name": "Sooty Albatross", "visual_features": ["c"]}}, "class 1 ('Laysan Albatross'), entry '1': visual_features is empty"),
    ({"0": {"name": "Black footed Albatross", "visual_features": ["a"]},
      "1": {"name": "Laysan Albatross", "visual_features": ["b"]},
      "2": {"name": "Wandering Albatross", "visual_features": ["c"]}}, "entry '2' is named 'Wandering Albatross'"),
    (["not", "a", "dict"], "expected a JSON object"),
])
def test_json_bad_input_names_file_and_class(tmp_path, data, message):
    f = write(tmp_path / "concepts.json", data)
    with pytest.raises(ConceptsError) as e:
        concepts_from_json(f, CLASSES)
    assert str(f) in str(e.value) and message in str(e.value)


def test_json_missing_or_invalid_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        concepts_from_json(tmp_path / "nope.json", CLASSES)
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(ValueError, match="bad.json"):
        concepts_from_json(tmp_path / "bad.json", CLASSES)


# ---------------------------------------------------------------- CUB attributes

ATTRS = ["has_bill_shape::dagger", "has_wing_color::blue", "has_underparts_color::yellow",
         "has_size::small_(5_-_9_in)", "has_head_pattern::eyering", "has_odd_group::some_value"]
MATRIX = [  # percent of each class's images showing each attribute (classes.txt order)
    [80.0, 10.0, 55.0, 50.0, 0.0, 90.0],
    [0.0, 70.0, 20.0, 49.9, 100.0, 0.0],
    [10.0, 0.0, 0.0, 0.0, 0.0, 0.0],
]


def cub(tmp_path, attrs_inside=False, matrix=MATRIX):
    root = tmp_path / "CUB_200_2011"
    (root / "attributes").mkdir(parents=True)
    attrs = "\n".join(f"{i} {a}" for i, a in enumerate(ATTRS, 1)) + "\n"
    (root / "attributes" / "attributes.txt" if attrs_inside else tmp_path / "attributes.txt").write_text(attrs)
    (root / "classes.txt").write_text("1 001.Black_footed_Albatross\n2 002.Laysan_Albatross\n3 003.Sooty_Albatross\n")
    (root / "attributes" / "class_attribute_labels_continuous.txt").write_text(
        "\n".join(" ".join(f"{x:.6f}" for x in row) for row in matrix) + "\n")
    return root


@pytest.mark.parametrize("attribute, phrase", [
    ("has_bill_shape::dagger", "dagger-shaped bill"),
    ("has_bill_shape::curved_(up_or_down)", "curved bill"),
    ("has_wing_color::blue", "blue wings"),
    ("has_underparts_color::yellow", "yellow underparts"),
    ("has_upper_tail_color::grey", "grey upper tail"),
    ("has_primary_color::black", "mostly black plumage"),
    ("has_breast_pattern::solid", "solid-colored breast"),
    ("has_wing_pattern::spotted", "spotted wings"),
    ("has_head_pattern::eyering", "eye ring"),
    ("has_tail_shape::forked_tail", "forked tail"),
    ("has_wing_shape::rounded-wings", "rounded wings"),
    ("has_bill_length::shorter_than_head", "bill shorter than the head"),
    ("has_size::small_(5_-_9_in)", "small body size (5 - 9 in)"),
    ("has_shape::duck-like", "duck-like body shape"),
    ("has_odd_group::some_value", "odd group: some value"),
])
def test_attribute_phrases(attribute, phrase):
    assert attribute_phrase(attribute) == phrase


def test_cub_attributes_threshold_order_and_class_matching(tmp_path):
    root = cub(tmp_path)
    # classes given in another order than classes.txt: rows are matched by name
    names = ["Laysan Albatross", "Black-footed Albatross"]
    c = concepts_from_cub_attributes(root, names, threshold=50)
    assert c["0"] == {"name": "Laysan Albatross", "visual_features": ["eye ring", "blue wings"]}
    assert c["1"]["visual_features"] == ["odd group: some value", "dagger-shaped bill", "yellow underparts",
                                         "small body size (5 - 9 in)"]
    capped = concepts_from_cub_attributes(root, names, threshold=50, max_per_class=2)
    assert capped["1"]["visual_features"] == ["odd group: some value", "dagger-shaped bill"]


def test_cub_attributes_file_inside_attributes_dir(tmp_path):
    root = cub(tmp_path, attrs_inside=True)
    assert concepts_from_cub_attributes(root, CLASSES, threshold=10)["2"]["visual_features"] == ["dagger-shaped bill"]


def test_cub_class_without_attributes_is_named(tmp_path):
    root = cub(tmp_path)
    with pytest.raises(ConceptsError, match=r"class_attribute_labels_continuous.txt: class 2 \('Sooty Albatross'\) "
                                            r"has no attribute in >= 50.0% .*highest 10.0%"):
        concepts_from_cub_attributes(root, CLASSES)


def test_cub_bad_input(tmp_path):
    root = cub(tmp_path)
    with pytest.raises(ConceptsError, match=r"classes.txt: class 1 \('Emperor Penguin'\) is not listed"):
        concepts_from_cub_attributes(root, ["Laysan Albatross", "Emperor Penguin"])
    root = cub(tmp_path / "b", matrix=[row[:5] for row in MATRIX])
    with pytest.raises(ConceptsError, match=r"continuous.txt:1: 5 columns, but there are 6 attributes"):
        concepts_from_cub_attributes(root, CLASSES)
    (tmp_path / "d" / "c").mkdir(parents=True)
    with pytest.raises(ConceptsError, match="no attributes.txt"):
        concepts_from_cub_attributes(tmp_path / "d" / "c", CLASSES)


# ---------------------------------------------------------------- LLM

def test_parse_bullets():
    reply = ("Here you go:\n- Black feet.\n* **Bill**: dark, hooked\n  • pale base of the bill\n"
             "1. Long narrow wings.\n2) Wingspan over 2 m\n- **Head:**\n- Black feet\nplain text line\n")
    assert parse_bullets(reply) == ["Black feet", "Bill: dark, hooked", "pale base of the bill",
                                    "Long narrow wings", "Wingspan over 2 m"]


def features_reply(user, body):
    if "Sooty" in user:
        return "I am not sure about that one."
    name = user.split("features of the ")[1].split(" bird")[0]
    return f"- {name} feature one.\n- {name} feature two\n"


def test_llm_concepts_parse_and_cache(tmp_path):
    cache = tmp_path / "llm_cache.json"
    with serve(features_reply) as (fake, url):
        c = concepts_from_llm(CLASSES[:2], base_url=url, model="m1", api_key_env="NO_SUCH_KEY_ENV",
                              domain="bird", cache_path=cache)
        assert fake.calls == 2
        assert c["1"] == {"name": "Laysan Albatross",
                          "visual_features": ["Laysan Albatross feature one", "Laysan Albatross feature two"]}
        first = fake.requests[0]
        assert first["model"] == "m1" and first["temperature"] == 0
        assert first["messages"][0] == {"role": "system", "content": CONCEPT_SYSTEM}
        assert any(m["messages"][1]["content"] == "List distinctive visual features of the Black footed Albatross "
                   "bird comprehensively, in a bullet-point format without any additional text." for m in fake.requests)
        # a rerun reads the cache: no request at all
        again = concepts_from_llm(CLASSES[:2], base_url=url, model="m1", api_key_env="NO_SUCH_KEY_ENV",
                                  domain="bird", cache_path=cache)
        assert again == c and fake.calls == 2
        # another model is another cache key
        concepts_from_llm(CLASSES[:1], base_url=url, model="m2", api_key_env="X", domain="bird", cache_path=cache)
        assert fake.calls == 3


def test_llm_reply_without_bullets_names_class_and_is_not_cached(tmp_path):
    cache = tmp_path / "llm_cache.json"
    with serve(features_reply) as (fake, url):
        for expected_calls in (3, 4):  # the unusable reply is asked again on the rerun, the others not
            with pytest.raises(ConceptsError, match=r"class 2 \('Sooty Albatross'\): no bullet points in the reply, "
                                                    r"which starts 'I am not sure"):
                concepts_from_llm(CLASSES, base_url=url, model="m", api_key_env="K", domain="bird",
                                  cache_path=cache)
            assert fake.calls == expected_calls


def test_llm_unreachable_endpoint_is_one_clear_error(tmp_path):
    url = closed_port_url()
    cache = tmp_path / "llm_cache.json"
    t0 = time.monotonic()
    with pytest.raises(LLMError, match=f"{url}: LLM endpoint unreachable"):
        concepts_from_llm(CLASSES, base_url=url, model="m", api_key_env="K", domain="bird", cache_path=cache)
    assert time.monotonic() - t0 < 20
    assert not cache.exists() and list(tmp_path.iterdir()) == []
