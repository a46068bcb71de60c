"""The one place a question becomes model input text, for training and generation alike."""
from __future__ import annotations


def chat_prompt(processor, question: str) -> str:
    """'USER: <image>\\n{question} ASSISTANT:' through the processor's own chat template."""
    conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    return processor.apply_chat_template(conversation, add_generation_prompt=True)
