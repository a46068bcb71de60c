"""A llava-1.5-7b-hf-shaped checkpoint, built offline with random weights.

Why: the pipeline's real path (llava-1.5 on CUB) must be testable without a download and
without a GPU. This writes a directory with llava-hf/llava-1.5-7b-hf's structure and processing —
CLIP vision at 336 px / patch 14, `vision_feature_layer` -2, select strategy "default" (CLS
dropped, 576 image tokens), GELU projector, Llama decoder, `<image>` at id 32000 and `<pad>` at
32001, the "USER: <image>\\n... ASSISTANT:" template, CLIP mean/std — at tiny widths (a test) or,
with --full, at the real 7B widths (the GPU runbook, benchmarks/gpu/). The tokenizer is a
byte-level BPE trained on the project's own prompt files (no sentencepiece model can be
downloaded); its ids 3..31999 are padded with unused tokens so the special ids match the real ones.

Usage: python -m selfsynth llava15 OUT_DIR [--full] [--device cuda] [--seed 0]
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                          LlavaForConditionalGeneration, LlavaProcessor, PreTrainedTokenizerFast)

from .tiny_llava import LLAVA_CHAT_TEMPLATE

REPO = Path(__file__).resolve().parents[2]
IMAGE_TOKEN, IMAGE_TOKEN_ID = "<image>", 32000  # llava-1.5-7b-hf: 32000 Llama tokens, then <image>, <pad>
PAD_TOKEN, PAD_TOKEN_ID = "<pad>", 32001
TEXT_VOCAB = 32064  # the embedding rows of llava-1.5-7b-hf (padded to a multiple of 64)
IMAGE_SIZE, PATCH_SIZE = 336, 14
IMAGE_TOKENS = (IMAGE_SIZE // PATCH_SIZE) ** 2  # 576: CLS dropped by the "default" strategy
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
# The processor fields that must survive every save: without them the processor cannot count the
# image tokens (or counts 577), and the model rejects the features.
PROCESSOR_FIELDS = {"patch_size": PATCH_SIZE, "vision_feature_select_strategy": "default",
                    "num_additional_image_tokens": 1}


@dataclass(frozen=True)
class Widths:
    vision_hidden: int
    vision_intermediate: int
    vision_layers: int
    vision_heads: int
    projection_dim: int
    text_hidden: int
    text_intermediate: int
    text_layers: int
    text_heads: int
    max_positions: int


FULL = Widths(1024, 4096, 24, 16, 768, 4096, 11008, 32, 32, 4096)  # llava-1.5-7b-hf's config.json
TINY = Widths(32, 64, 3, 2, 32, 64, 128, 2, 4, 1024)  # 3 vision layers: layer -2 is a real, non-final one


def corpus(root: Path = REPO) -> list[str]:
    """Every string in the project's prompt files: the words the pipeline will say."""
    out: list[str] = ["USER: <image>\nWhat is this? ASSISTANT: This is an image of a bird."]

    def walk(x):
        if isinstance(x, str):
            out.append(x)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    for f in sorted((root / "prompts").glob("*.yaml")):
        walk(yaml.safe_load(f.read_text()))
    return out


def build_tokenizer(texts: list[str], learned: int = 2000) -> PreTrainedTokenizerFast:
    """Llama's special-token layout (<unk> 0, <s> 1, </s> 2, <image> 32000, <pad> 32001) over a small
    byte-level BPE; adds <s> in front like LlamaTokenizerFast."""
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=learned, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(texts, trainer=trainer)
    state = json.loads(bpe.to_str())
    vocab: dict[str, int] = state["model"]["vocab"]
    if len(vocab) > IMAGE_TOKEN_ID:
        raise ValueError(f"tokenizer: {len(vocab)} learned tokens leave no room below id {IMAGE_TOKEN_ID}")
    for i in range(len(vocab), IMAGE_TOKEN_ID):  # unused rows, as a real 32000-token vocab has
        vocab[f"<unused{i}>"] = i
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["model"]["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(["<unk>", "<s>", "</s>", IMAGE_TOKEN, PAD_TOKEN])
    ids = {t: tok.token_to_id(t) for t in ("<unk>", "<s>", "</s>", IMAGE_TOKEN, PAD_TOKEN)}
    if ids != {"<unk>": 0, "<s>": 1, "</s>": 2, IMAGE_TOKEN: IMAGE_TOKEN_ID, PAD_TOKEN: PAD_TOKEN_ID}:
        raise AssertionError(f"tokenizer: special ids {ids} differ from llava-1.5-7b-hf's")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token=PAD_TOKEN, extra_special_tokens={"image_token": IMAGE_TOKEN},
                                   model_max_length=4096, padding_side="left")


def build_processor(tokenizer: PreTrainedTokenizerFast) -> LlavaProcessor:
    image_processor = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
                                         do_center_crop=True, do_resize=True, resample=3, do_normalize=True,
                                         image_mean=CLIP_MEAN, image_std=CLIP_STD, do_convert_rgb=True)
    return LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=LLAVA_CHAT_TEMPLATE,
                          image_token=IMAGE_TOKEN, **PROCESSOR_FIELDS)


def llava15_config(w: Widths) -> LlavaConfig:
    vision = CLIPVisionConfig(hidden_size=w.vision_hidden, intermediate_size=w.vision_intermediate,
                              num_hidden_layers=w.vision_layers, num_attention_heads=w.vision_heads,
                              image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, projection_dim=w.projection_dim,
                              hidden_act="quick_gelu", layer_norm_eps=1e-5)
    text = LlamaConfig(vocab_size=TEXT_VOCAB, hidden_size=w.text_hidden, intermediate_size=w.text_intermediate,
                       num_hidden_layers=w.text_layers, num_attention_heads=w.text_heads,
                       num_key_value_heads=w.text_heads, max_position_embeddings=w.max_positions, rms_norm_eps=1e-5,
                       bos_token_id=1, eos_token_id=2, pad_token_id=PAD_TOKEN_ID, tie_word_embeddings=False)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=IMAGE_TOKEN_ID,
                         projector_hidden_act="gelu", vision_feature_select_strategy="default",
                         vision_feature_layer=-2, image_seq_length=IMAGE_TOKENS, tie_word_embeddings=False)
    config.pad_token_id = PAD_TOKEN_ID
    return config


def build(out_dir: str | Path, full: bool = False, device: str = "cpu", seed: int = 0) -> Path:
    """Write the checkpoint; --full in bf16 (14 GB, build it on the GPU: random init of 7B on a CPU is slow)."""
    out = Path(out_dir)
    torch.manual_seed(seed)
    processor = build_processor(build_tokenizer(corpus()))
    config = llava15_config(FULL if full else TINY)
    dtype = torch.bfloat16 if full else torch.float32
    with torch.device(device):
        model = LlavaForConditionalGeneration(config).to(dtype)
    for key, value in {"pad_token_id": PAD_TOKEN_ID, "eos_token_id": 2, "bos_token_id": 1}.items():
        setattr(model.generation_config, key, value)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, max_shard_size="5GB")
    processor.save_pretrained(out)
    check_processor_dir(out)
    return out


def check_processor_dir(path: str | Path) -> None:
    """One error naming the file when a saved processor lost the fields that count image tokens
    (a fine-tuned folder saved by older code breaks the next round this way)."""
    path = Path(path)
    cfg = path / "processor_config.json"
    saved = json.loads(cfg.read_text()) if cfg.is_file() else {}
    model = json.loads((path / "config.json").read_text())
    if model.get("vision_feature_select_strategy") != "default":
        return  # not llava-1.5-shaped (the tiny world model keeps CLS on purpose)
    wrong = {k: saved.get(k) for k, v in PROCESSOR_FIELDS.items() if saved.get(k) != v}
    if wrong:
        raise ValueError(f"{cfg}: processor fields {wrong} differ from llava-1.5's {PROCESSOR_FIELDS}: "
                         "the image-token count would not match the vision features")

