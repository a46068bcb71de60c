"""The one place a question becomes model input text, for training and generation alike."""
from __future__ import annotations


def chat_prompt(processor, question: str) -> str:
    """'USER: <image>\\n{question} ASSISTANT:' through the processor's own chat template."""
    conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    return processor.apply_chat_template(conversation, add_generation_prompt=True)


def conversation_prompt(processor, turns: list[tuple[str, str | None]]) -> str:
    """A multi-turn conversation about one image (shown in the first turn), ending with the
    assistant's cue: [(question, answer), ..., (question, None)]."""
    messages = []
    for i, (question, answer) in enumerate(turns):
        content = ([{"type": "image"}] if i == 0 else []) + [{"type": "text", "text": question}]
        messages.append({"role": "user", "content": content})
        if answer is not None:
            messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return processor.apply_chat_template(messages, add_generation_prompt=True)
