"""A real LlavaForConditionalGeneration, tiny enough to pretrain on two CPU cores.

It is built and saved exactly like llava-1.5-7b-hf (CLIP vision tower, projector, Llama
decoder, LlavaProcessor with the same "USER: <image>\\n... ASSISTANT:" chat template), so
every later stage loads it with the same from_pretrained calls it uses for the real model.
"""
from __future__ import annotations

from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                          LlavaForConditionalGeneration, LlavaProcessor, PreTrainedTokenizerFast)

from ..core.params import BaseParams

IMAGE_TOKEN = "<image>"
SPECIALS = ("<unk>", "<s>", "</s>", "<pad>", IMAGE_TOKEN)
# llava-1.5 drops CLS ("default"); the tiny model keeps it ("full"), because its vision stage-A
# training makes CLS summarise every part, and one summary token is what a 2-layer decoder
# learns to read in minutes (from 64 patch tokens alone it stays near-blind; see the issue notes).
FEATURE_STRATEGY = "full"

# The same prompt format as llava-hf/llava-1.5-7b-hf's processor template.
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] != 'system' %}{{ message['role'].upper() + ': ' }}{% endif %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' ' }}{% endfor %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE: any later text (species names, new prompts) still encodes, none maps to <unk>."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIALS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", extra_special_tokens={"image_token": IMAGE_TOKEN},
                                   model_max_length=512)


def build_processor(tokenizer: PreTrainedTokenizerFast, image_size: int, patch_size: int) -> LlavaProcessor:
    image_processor = CLIPImageProcessor(size={"shortest_edge": image_size},
                                         crop_size={"height": image_size, "width": image_size})
    # the CLS token is kept ("full"): the processor counts it as one extra image token
    return LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=patch_size,
                          vision_feature_select_strategy=FEATURE_STRATEGY, num_additional_image_tokens=1,
                          chat_template=LLAVA_CHAT_TEMPLATE, image_token=IMAGE_TOKEN)


def build_model(p: BaseParams, tokenizer: PreTrainedTokenizerFast, image_size: int) -> LlavaForConditionalGeneration:
    vision = CLIPVisionConfig(hidden_size=p.vision.hidden_size, intermediate_size=4 * p.vision.hidden_size,
                              num_hidden_layers=p.vision.layers, num_attention_heads=p.vision.heads,
                              image_size=image_size, patch_size=p.vision.patch_size, projection_dim=p.vision.hidden_size)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=p.text.hidden_size,
                       intermediate_size=p.text.intermediate_size, num_hidden_layers=p.text.layers,
                       num_attention_heads=p.text.heads, num_key_value_heads=p.text.heads,
                       max_position_embeddings=512, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                       tie_word_embeddings=True)
    config = LlavaConfig(vision_config=vision, text_config=text,
                         image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
                         image_seq_length=(image_size // p.vision.patch_size) ** 2 + 1,
                         vision_feature_select_strategy=FEATURE_STRATEGY, vision_feature_layer=-1,
                         tie_word_embeddings=True)
    model = LlavaForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model
