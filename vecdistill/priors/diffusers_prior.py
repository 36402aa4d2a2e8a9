"""A Stable-Diffusion-style diffusers model as a prior (latent or pixel space).

Loads the components of a diffusers pipeline folder or hub model id with diffusers' and
transformers' own loaders: ``unet`` (UNet2DConditionModel, or UNet2DModel for unconditional
pixel models), ``vae`` (AutoencoderKL; absent for pixel-space models), ``text_encoder`` +
``tokenizer`` (CLIP; absent for unconditional models) and ``scheduler`` (any; only its
training schedule is used: ``alphas_cumprod`` and ``prediction_type``).

- ``encode``: images [B,3,H,W] in [0,1] -> resized to ``image_size`` -> ``2x - 1`` -> VAE
  latent mean x ``scaling_factor`` from the VAE config (latent models) or the image itself
  (pixel models); float32, differentiable.
- ``predict_noise_many``: ONE batched UNet call for all pairs (CFG halves, DDS/PDS branches);
  ``v_prediction`` and ``sample`` outputs are converted to epsilon exactly:
  ``eps = sqrt(abar) v + sqrt(1 - abar) x_t`` and ``eps = (x_t - sqrt(abar) x0) / sqrt(1 - abar)``.
- Precision: float16 on CUDA by default (bfloat16 if asked), always float32 on CPU.
- Offline: a local folder is checked before anything is loaded; a hub id is loaded with
  ``local_files_only`` when ``HF_HUB_OFFLINE`` is set or the hub does not answer within a
  few seconds, so a missing model fails fast with a :class:`ModelError`, never a hang.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
import torch.nn.functional as F

from ..errors import ModelError
from .base import Prior, PromptCondition

Tensor = torch.Tensor

_WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin", "diffusion_pytorch_model.fp16.safetensors",
                 "model.safetensors", "pytorch_model.bin", "model.fp16.safetensors", "diffusion_pytorch_model.safetensors.index.json")


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) asks for offline mode."""
    return any(os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on") for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the hub endpoint (``HF_ENDPOINT``) opens within ``timeout``
    seconds, name resolution included (run in a daemon thread so a stuck resolver cannot hang)."""
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme != "http" else 80)
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])


@contextlib.contextmanager
def quiet_loaders() -> Iterator[None]:
    """Silence diffusers' and transformers' progress bars and info logs while loading (library
    code does not print), and the deprecation notice huggingface_hub gives for an argument
    diffusers still passes it (``local_dir_use_symlinks``: nothing a user can act on);
    restores their previous settings."""
    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog

    saved = [(m, m.is_progress_bar_enabled(), m.get_verbosity()) for m in (dlog, tlog)]
    for m, _, _ in saved:
        m.disable_progress_bar()
        m.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks", category=UserWarning)
            yield
    finally:
        for m, bar, level in saved:
            if bar:
                m.enable_progress_bar()
            m.set_verbosity(level)


def _looks_like_path(model: str) -> bool:
    return model.startswith((".", "/", "~")) or "\\" in model or model.count("/") > 1 or model.endswith(("/", ".json"))


def _check_type(index: dict, model: str) -> str:
    """The UNet class name of a pipeline's model_index, or ModelError for pipelines we do
    not support (no UNet: Flux, SD3...; SDXL's two text encoders; other UNet classes)."""
    cls_name = str(index.get("_class_name", ""))
    if "unet" not in index:
        raise ModelError(f"{model} is a {cls_name or 'pipeline'} without a UNet; vecdistill supports Stable-Diffusion-style UNet pipelines (SD 1.x / 2.x, pixel-space UNets)")
    if "XL" in cls_name or "text_encoder_2" in index:
        raise ModelError(f"{model} is {cls_name} (SDXL-style, two text encoders); vecdistill supports SD 1.x / 2.x style pipelines")
    unet_cls = str(index["unet"][1]) if isinstance(index.get("unet"), list) else "UNet2DConditionModel"
    if unet_cls == "?":
        unet_cls = "UNet2DConditionModel"
    if unet_cls not in ("UNet2DConditionModel", "UNet2DModel"):
        raise ModelError(f"{model}: unsupported UNet class {unet_cls}; expected UNet2DConditionModel or UNet2DModel")
    return unet_cls


def _check_folder(folder: Path, model: str) -> dict:
    """The model_index of a local pipeline folder, or ModelError naming what is missing."""
    if not folder.is_dir():
        raise ModelError(f"model folder {model} is not a folder; pass a diffusers pipeline folder (with model_index.json) or a model id")
    index_file = folder / "model_index.json"
    if index_file.is_file():
        try:
            index = json.loads(index_file.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"model folder {model}: model_index.json is unreadable ({exc}); re-download the model") from None
    elif (folder / "unet" / "config.json").is_file():
        index = {"unet": ["diffusers", "UNet2DConditionModel"]}
        for name in ("vae", "text_encoder", "tokenizer", "scheduler"):
            if (folder / name).is_dir():
                index[name] = ["?", "?"]
    else:
        raise ModelError(f"{model} is not a diffusers pipeline folder (no model_index.json, no unet/); pass a Stable-Diffusion-style pipeline folder")
    _check_type(index, model)
    missing = []
    for name, spec in index.items():
        if name.startswith("_") or not isinstance(spec, list) or spec[0] is None or name in ("safety_checker", "feature_extractor", "image_encoder"):
            continue
        sub = folder / name
        if not sub.is_dir():
            missing.append(f"{name}/")
        elif name in ("unet", "vae", "text_encoder") and not any((sub / f).is_file() for f in _WEIGHT_FILES):
            missing.append(f"{name}/ weights")
        elif name in ("unet", "vae", "text_encoder") and not (sub / "config.json").is_file():
            missing.append(f"{name}/config.json")
    if missing:
        raise ModelError(f"model folder {model} is incomplete: missing {', '.join(missing)}; re-download or re-save the pipeline")
    return index


class DiffusersPrior(Prior):
    """A diffusers UNet pipeline as a :class:`Prior` (see the module docstring).

    ``model``: local folder or hub id. ``device``: "cpu", "cuda", ... ``dtype``: None (float16
    on CUDA, float32 on CPU), torch.float16 / torch.bfloat16 (CUDA only) or torch.float32.
    ``attention_slicing``: slice attention to save memory (None: on for CUDA).
    ``vae_slicing``: encode/decode the batch one image at a time.
    """

    def __init__(self, model: str, device: torch.device | str = "cpu", dtype: torch.dtype | None = None,
                 attention_slicing: bool | None = None, vae_slicing: bool = True) -> None:
        super().__init__()
        self.model_id = str(model)
        self.device = torch.device(device)
        if self.device.type == "cpu" or dtype is None and self.device.type != "cuda":
            dtype = torch.float32
        self.dtype = dtype or torch.float16
        self.name = f"diffusers:{self.model_id}"
        self._load()
        self.unet.requires_grad_(False).eval()
        if self.vae is not None:
            self.vae.requires_grad_(False).eval()
            if vae_slicing and hasattr(self.vae, "enable_slicing"):
                self.vae.enable_slicing()
        if self.text_encoder is not None:
            self.text_encoder.requires_grad_(False).eval()
        if (attention_slicing if attention_slicing is not None else self.device.type == "cuda") and hasattr(self.unet, "set_attention_slice"):
            self.unet.set_attention_slice("auto")

    # -- loading --------------------------------------------------------------------------
    def _load(self) -> None:
        model = self.model_id
        path = Path(model).expanduser()
        if path.exists():
            index = _check_folder(path, model)
            source, local_only = str(path), True
        elif _looks_like_path(model):
            raise ModelError(f"model folder {model} does not exist; pass an existing diffusers pipeline folder or a hub model id")
        else:
            offline = hub_offline()
            local_only = offline or not hub_reachable()
            source = model
            why = "HF_HUB_OFFLINE is set" if offline else "the Hugging Face hub is unreachable"
            try:
                from diffusers import DiffusionPipeline

                with quiet_loaders():
                    index = dict(DiffusionPipeline.load_config(model, local_files_only=local_only))
            except Exception as exc:  # noqa: BLE001 - any loader failure is a model problem
                hint = f" ({why}; it is not in the local cache: download it once with network access, or pass a local folder)" if local_only else ""
                raise ModelError(f"cannot load model {model!r}{hint}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}. With no network, set HF_HUB_OFFLINE=1 and pass --model PATH to a downloaded pipeline folder") from None
        self._index = index
        with quiet_loaders():
            self._build(source, index, local_only)

    def _build(self, source: str, index: dict, local_only: bool) -> None:
        import diffusers

        unet_cls = _check_type(index, self.model_id)
        kw = {"local_files_only": local_only}
        try:
            self.unet = getattr(diffusers, unet_cls).from_pretrained(source, subfolder="unet", torch_dtype=self.dtype, **kw).to(self.device)
            self.vae = None
            if isinstance(index.get("vae"), list) and index["vae"][0] is not None:
                self.vae = diffusers.AutoencoderKL.from_pretrained(source, subfolder="vae", torch_dtype=self.dtype, **kw).to(self.device)
            self.text_encoder = self.tokenizer = None
            if isinstance(index.get("text_encoder"), list) and index["text_encoder"][0] is not None:
                from transformers import CLIPTextModel, CLIPTokenizer

                self.text_encoder = CLIPTextModel.from_pretrained(source, subfolder="text_encoder", torch_dtype=self.dtype, **kw).to(self.device)
                self.tokenizer = CLIPTokenizer.from_pretrained(source, subfolder="tokenizer", **kw)
            scheduler = diffusers.DDPMScheduler.from_pretrained(source, subfolder="scheduler", **kw)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"cannot load model {self.model_id!r}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}; check the folder is a complete diffusers pipeline (set HF_HUB_OFFLINE=1 to never use the network)") from None
        self.prediction_type = str(scheduler.config.get("prediction_type", "epsilon"))
        if self.prediction_type not in ("epsilon", "v_prediction", "sample"):
            raise ModelError(f"{self.model_id}: unsupported prediction_type {self.prediction_type!r}")
        self.alphas_cumprod = scheduler.alphas_cumprod.float().to(self.device)
        cfg = self.unet.config
        self.conditional = unet_cls == "UNet2DConditionModel"
        if self.conditional and self.text_encoder is None:
            raise ModelError(f"{self.model_id}: the UNet needs text embeddings but the folder has no text_encoder/")
        size = cfg.sample_size
        size = (size, size) if isinstance(size, int) else tuple(size)
        if self.vae is not None:
            factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
            self.scaling_factor = float(self.vae.config.get("scaling_factor", 0.18215))
            self.image_size = (size[0] * factor, size[1] * factor)
            if cfg.in_channels != self.vae.config.latent_channels:
                raise ModelError(f"{self.model_id}: UNet has {cfg.in_channels} input channels but the VAE {self.vae.config.latent_channels} latent channels")
        else:
            self.scaling_factor = 1.0
            self.image_size = size
            if cfg.in_channels != 3:
                raise ModelError(f"{self.model_id}: a pixel-space model (no vae/) must take 3 channels, its UNet takes {cfg.in_channels}")

    # -- images <-> model space ---------------------------------------------------------
    def _resize(self, images: Tensor) -> Tensor:
        if tuple(images.shape[-2:]) != tuple(self.image_size):
            images = F.interpolate(images, size=self.image_size, mode="bilinear", align_corners=False, antialias=True)
        return images

    def encode(self, images: Tensor) -> Tensor:
        """Images [B,3,H,W] in [0,1] -> x0 (latents [B,4,h,w] x scaling_factor, or [-1,1]
        pixels), float32, differentiable."""
        x = self._resize(images.float()).to(self.device) * 2 - 1
        if self.vae is None:
            return x
        latent = self.vae.encode(x.to(self.dtype)).latent_dist.mean
        return latent.float() * self.scaling_factor

    def decode(self, x0: Tensor) -> Tensor:
        """x0 -> images [B,3,H,W] in [0,1] (no grad)."""
        with torch.no_grad():
            if self.vae is None:
                return ((x0.float() + 1) / 2).clamp(0, 1)
            img = self.vae.decode((x0 / self.scaling_factor).to(self.dtype)).sample
            return ((img.float() + 1) / 2).clamp(0, 1)

    # -- noise prediction ---------------------------------------------------------------
    def unet_eps(self, x_t: Tensor, t: Tensor, hidden: Tensor | None, class_labels: Tensor | None = None) -> Tensor:
        """One UNet call on a batch, converted to epsilon; float32. ``hidden``: [B, L, C]
        text embeddings (None for unconditional UNets)."""
        x = x_t.to(self.device, self.dtype)
        t = t.to(self.device).long()
        if self.conditional:
            kwargs: dict[str, Any] = {"encoder_hidden_states": hidden.to(self.dtype)}
            if class_labels is not None:
                kwargs["class_labels"] = class_labels
            out = self.unet(x, t, **kwargs).sample
        else:
            out = self.unet(x, t).sample
        out = out[:, : x.shape[1]].float()
        if self.prediction_type == "epsilon":
            return out
        a = self.abar(t).view(-1, *([1] * (x.dim() - 1)))
        xf = x_t.float().to(self.device)
        if self.prediction_type == "v_prediction":
            return a.sqrt() * out + (1 - a).sqrt() * xf
        return (xf - a.sqrt() * out) / (1 - a).sqrt()

    def predict_noise(self, x_t: Tensor, t: Tensor, cond: Any) -> Tensor:
        return self.predict_noise_many([x_t], [t], [cond])[0]

    def predict_noise_many(self, x_t, t, conds) -> list[Tensor]:
        """All pairs in ONE UNet call (batches concatenated); returns each in its x's dtype."""
        sizes = [x.shape[0] for x in x_t]
        ts = [tt.expand(n) if tt.dim() == 0 else tt for tt, n in zip(t, sizes)]
        hidden = None
        if self.conditional:
            hidden = torch.cat([c.expand(n, -1, -1) for c, n in zip(conds, sizes)])
        eps = self.unet_eps(torch.cat([x.to(self.device) for x in x_t]), torch.cat(ts), hidden)
        return [e.to(x.dtype) for e, x in zip(eps.split(sizes), x_t)]

    # -- prompts ------------------------------------------------------------------------
    def _embed(self, text: str) -> tuple[Tensor, bool]:
        tok = self.tokenizer
        ids = tok(text, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt").input_ids
        full = len(tok(text).input_ids)
        with torch.no_grad():
            hidden = self.text_encoder(ids.to(self.device))[0]
        return hidden.to(self.dtype), full > tok.model_max_length

    def _encode_prompt(self, text: str, negative: str) -> PromptCondition:
        if not self.conditional:
            return PromptCondition(text, negative, None, None, {"unconditional_model": True})
        cond, cut = self._embed(text)
        uncond, _ = self._embed(negative)
        return PromptCondition(text, negative, cond, uncond, {"truncated": cut})

    # -- VSD ---------------------------------------------------------------------------
    def trainable_noise_model(self, sample_shape, rank: int = 4, condition_dim: int = 0) -> torch.nn.Module:
        """A peft LoRA (rank ``rank``) on the UNet's attention projections, switched on only
        inside its own forward; optional camera/particle condition through the class embedding.
        UNets without attention layers get the default residual copy."""
        if not any(name.endswith("to_q") for name, _ in self.unet.named_modules()):
            # a UNet without attention layers: nothing to put LoRA on; use the residual copy
            return super().trainable_noise_model(sample_shape, rank=rank, condition_dim=condition_dim)
        from .diffusers_lora import UNetLoRANoiseModel

        return UNetLoRANoiseModel(self, rank=rank, condition_dim=condition_dim)

    def describe(self) -> dict:
        info = super().describe()
        info.update({"model": self.model_id, "latent": self.vae is not None, "prediction_type": self.prediction_type,
                     "scaling_factor": self.scaling_factor, "conditional": self.conditional})
        return info
