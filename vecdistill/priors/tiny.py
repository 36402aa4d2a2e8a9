"""Tiny random Stable-Diffusion-style pipelines, built offline from configs.

``build_tiny_pipeline(folder)`` writes a complete diffusers folder (UNet2DConditionModel,
AutoencoderKL, CLIPTextModel + CLIPTokenizer, DDIMScheduler with SD's schedule) whose
networks are a few hundred kilobytes of random weights, so tests run
``--model PATH`` without a network. ``latent=False`` writes a pixel-space pipeline (no VAE,
the UNet sees RGB). ``tiny_sd15_unet_config()`` is the real Stable Diffusion 1.5 UNet
configuration (860M parameters) for benchmarks with random weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..fileio import atomic_write_text
from .diffusers_prior import quiet_loaders

# printable ASCII: the byte-level BPE of CLIP maps these bytes to themselves
_CHARS = [chr(c) for c in range(33, 127)]
TEXT_DIM = 32


def tiny_unet_config(latent: bool = True, cross_attention_dim: int = TEXT_DIM, sample_size: int = 16) -> dict:
    """A two-level UNet2DConditionModel config (one cross-attention level), 4 (latent) or 3
    (pixel) channels in and out."""
    ch = 4 if latent else 3
    return {
        "sample_size": sample_size,
        "in_channels": ch,
        "out_channels": ch,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
        "block_out_channels": [32, 64],
        "layers_per_block": 1,
        "cross_attention_dim": cross_attention_dim,
        "attention_head_dim": 8,
        "norm_num_groups": 32,
    }


def tiny_sd15_unet_config() -> dict:
    """The UNet2DConditionModel config of Stable Diffusion 1.5 (64x64x4 latents, 768-d text)."""
    return {
        "sample_size": 64,
        "in_channels": 4,
        "out_channels": 4,
        "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
        "block_out_channels": [320, 640, 1280, 1280],
        "layers_per_block": 2,
        "cross_attention_dim": 768,
        "attention_head_dim": 8,
        "norm_num_groups": 32,
    }


def _write_tokenizer(folder: Path) -> None:
    """A character-level CLIP tokenizer (vocab.json + merges.txt, no merges)."""
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab: dict[str, int] = {}
    for tok in ["<|startoftext|>", "<|endoftext|>"] + _CHARS + [c + "</w>" for c in _CHARS]:
        vocab.setdefault(tok, len(vocab))
    atomic_write_text(folder / "vocab.json", json.dumps(vocab))
    atomic_write_text(folder / "merges.txt", "#version: 0.2\n")
    tok = CLIPTokenizer.from_pretrained(str(folder), model_max_length=16)
    tok.save_pretrained(str(folder))


def build_tiny_pipeline(folder: str | Path, latent: bool = True, seed: int = 0, prediction_type: str = "epsilon") -> Path:
    """Write a tiny random SD-style pipeline to ``folder`` and return it.

    ``latent``: with an AutoencoderKL (images 32x32 -> latents 4x16x16) or pixel space
    (UNet on 3x16x16 images). ``prediction_type``: "epsilon" or "v_prediction" (written to the
    scheduler config, as SD 2.x does). Weights come from ``seed`` without touching the
    caller's global RNG state."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**tiny_unet_config(latent=latent))
        text = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=2 + 2 * len(_CHARS), hidden_size=TEXT_DIM, intermediate_size=37, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=1,
            )
        )
        vae = None
        if latent:
            vae = AutoencoderKL(
                in_channels=3, out_channels=3, latent_channels=4, block_out_channels=[32, 64],
                down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                layers_per_block=1, norm_num_groups=32, sample_size=32,
            )
    scheduler = DDIMScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        clip_sample=False, set_alpha_to_one=False, steps_offset=1, prediction_type=prediction_type,
    )
    with quiet_loaders():
        _save(out, unet, text, vae, scheduler, latent)
    return out


def _save(out: Path, unet, text, vae, scheduler, latent: bool) -> None:
    index = {"_class_name": "StableDiffusionPipeline" if latent else "DiffusionPipeline", "_diffusers_version": "0.27.0"}
    unet.save_pretrained(str(out / "unet"))
    text.save_pretrained(str(out / "text_encoder"))
    _write_tokenizer(out / "tokenizer")
    scheduler.save_pretrained(str(out / "scheduler"))
    index.update({"unet": ["diffusers", "UNet2DConditionModel"], "text_encoder": ["transformers", "CLIPTextModel"],
                  "tokenizer": ["transformers", "CLIPTokenizer"], "scheduler": ["diffusers", "DDIMScheduler"]})
    if vae is not None:
        vae.save_pretrained(str(out / "vae"))
        index["vae"] = ["diffusers", "AutoencoderKL"]
        index["safety_checker"] = [None, None]
        index["feature_extractor"] = [None, None]
        index["requires_safety_checker"] = False
    atomic_write_text(out / "model_index.json", json.dumps(index, indent=2))
