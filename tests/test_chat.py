"""The case-study chat: several turns about one image, each answer fed back into the conversation."""
import os
import subprocess
import sys

from transformers import AutoProcessor

from selfsynth.lmm.chat_template import conversation_prompt
from tests.conftest import OFFLINE


def test_turns_follow_the_llava_1_5_template_with_the_image_in_the_first_turn(micro_project):
    root, _ = micro_project
    processor = AutoProcessor.from_pretrained(root / "models/round-0")
    prompt = conversation_prompt(processor, [("What bird is this?", "A Bothis Kinglet."), ("Why?", None)])
    assert prompt == "USER: <image>\nWhat bird is this? ASSISTANT: A Bothis Kinglet. USER: Why? ASSISTANT:"
    assert prompt.count("<image>") == 1


def test_chat_answers_every_question_of_a_session(micro_project):
    root, _ = micro_project
    image = next((root / "data/dataset/images/test").glob("*.png"))
    proc = subprocess.run([sys.executable, "-m", "selfsynth", "chat", "--method", "ours", "--round", "2", "--image",
                           str(image), "--max-new-tokens", "8"], cwd=root, input="What bird is this?\nWhy?\n\n",
                          capture_output=True, text=True, env={**os.environ, **OFFLINE}, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert [x for x in lines if x.startswith("you> ")] == ["you> What bird is this?", "you> Why?"]
    assert sum(x.startswith("model> ") for x in lines) == 2


def test_chat_names_a_missing_image(micro_project, tmp_path):
    root, _ = micro_project
    proc = subprocess.run([sys.executable, "-m", "selfsynth", "chat", "--model", str(root / "models/round-0"), "--image",
                           str(tmp_path / "nope.png")], capture_output=True, text=True, env={**os.environ, **OFFLINE})
    assert proc.returncode == 2 and "nope.png: no such image" in proc.stderr
