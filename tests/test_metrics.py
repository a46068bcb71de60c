"""Offline metrics read answers the way a careful grader would."""
from selfsynth.method.evaluate import identification
from selfsynth.metrics.attributes import attribute_answer_correct, mention_prf
from selfsynth.metrics.identification import NameMatcher, normalize
from selfsynth.world.attributes import mentioned_attributes


def test_mentions_are_read_clause_by_clause():
    text = "A crimson bird with a jet black crest. The tail is deeply forked and the legs are pink."
    assert mentioned_attributes(text) == {("plumage", "crimson"), ("crest", "black"), ("tail", "forked"),
                                          ("legs", "pink")}
    # a colour word belongs to the part named in its clause
    assert mentioned_attributes("The eye ring is white. The crest is orange.") == {("eye_ring", "white"),
                                                                                  ("crest", "orange")}
    assert mentioned_attributes("A lovely picture of a bird on a branch.") == set()


def test_mention_precision_and_recall():
    truth = [{("plumage", "crimson"), ("tail", "forked")}]
    scores = mention_prf(["A red bird. The tail is rounded."], truth)
    assert scores["precision"] == 0.5 and scores["recall"] == 0.5


def test_attribute_answers_must_state_the_true_value_or_say_hidden():
    assert attribute_answer_correct("The crest is jet black.", "crest", "black")
    assert not attribute_answer_correct("The crest is orange.", "crest", "black")
    assert attribute_answer_correct("The crest is not visible in this image.", "crest", None)
    assert not attribute_answer_correct("The crest is black.", "crest", None)


def test_strict_accuracy_takes_the_earliest_name_and_the_longest_on_a_tie():
    m = NameMatcher(["Vel Finch", "Vel Finch Major", "Korra Wren"])
    assert m.predict("This is a Vel Finch Major, not a Korra Wren.") == 1
    assert m.predict("Korra Wren or maybe Vel Finch") == 2
    assert m.predict("no idea") is None


def test_a_name_counts_only_as_whole_words_and_every_name_of_an_answer_is_found_in_order():
    m = NameMatcher(["Vel Finch", "Vel Finch Major", "Korra Wren", "Wren"])
    assert m.predict("Vel Finches and a novel finch") is None
    assert m.predict("a vel-finch-major") == 1
    assert list(m.named("A korra wren, then a Vel Finch Major or a wren.")) == [2, 3, 1, 0, 3]
    assert m.lenient("a korra wren", 3) and not m.lenient("a korra wrens", 3)


def test_lenient_accuracy_accepts_any_mention_of_the_label():
    m = NameMatcher(["Vel-Finch", "Korra Wren"])
    assert normalize("Vel-Finch!") == "vel finch"
    answers = ["Either a korra wren or a vel finch.", "A korra wren."]
    assert identification(m)([{"label": 0}, {"label": 0}], answers) == [
        {"accuracy": 0.0, "accuracy_lenient": 1.0}, {"accuracy": 0.0, "accuracy_lenient": 0.0}]
