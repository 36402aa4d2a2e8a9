"""VSD's trainable copy of a diffusers UNet: a peft LoRA that is active only when asked.

The adapter (injected with ``peft.inject_adapter_in_model``; rank ``r`` on ``to_q``, ``to_k``, ``to_v``, ``to_out.0`` of every attention
layer, ``lora_alpha = r``, B initialised to zero so the copy starts equal to the frozen UNet)
lives inside the prior's own UNet: no second copy of the weights. Adapters are disabled
except during this module's forward, so the prior's predictions stay the pretrained ones.
An optional condition [B, condition_dim] (camera pose, particle id) goes through a small
zero-initialised MLP installed as the UNet's class embedding for the duration of the call.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn

from ..errors import ModelError

Tensor = torch.Tensor
_COUNTER = itertools.count()


class UNetLoRANoiseModel(nn.Module):
    """``model(x_t, t, cond, condition=None) -> eps`` with LoRA adapters on; see module doc."""

    def __init__(self, prior: Any, rank: int = 4, condition_dim: int = 0) -> None:
        super().__init__()
        from peft import LoraConfig, inject_adapter_in_model

        self.prior = [prior]  # not a submodule: its UNet stays frozen and unregistered here
        unet = prior.unet
        self.adapter = f"vsd{next(_COUNTER)}"
        config = LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=True, target_modules=["to_q", "to_k", "to_v", "to_out.0"])
        inject_adapter_in_model(config, unet, adapter_name=self.adapter)
        self._switch(False)
        self.lora = nn.ParameterList([p for n, p in unet.named_parameters() if f".{self.adapter}." in n])
        for p in self.lora:
            p.requires_grad_(True)
        if not len(self.lora):
            raise ModelError(f"{prior.model_id}: no attention layers to put LoRA adapters on")
        self.condition_dim = int(condition_dim)
        self.embed = None
        if self.condition_dim:
            if not prior.conditional or getattr(unet, "class_embedding", None) is not None:
                raise ModelError(f"{prior.model_id}: camera/particle conditioning needs a text-conditional UNet without its own class embedding")
            dim = unet.time_embedding.linear_2.out_features
            self.embed = nn.Sequential(nn.Linear(self.condition_dim, dim), nn.SiLU(), nn.Linear(dim, dim)).to(prior.device)
            nn.init.zeros_(self.embed[-1].weight)
            nn.init.zeros_(self.embed[-1].bias)

    def _switch(self, on: bool) -> None:
        """Turn this adapter on (and every other adapter off) or all adapters off, layer by
        layer (works for any UNet class, with or without diffusers' PEFT mixin)."""
        from peft.tuners.tuners_utils import BaseTunerLayer

        for module in self.prior[0].unet.modules():
            if isinstance(module, BaseTunerLayer):
                if on:
                    module.enable_adapters(True)
                    module.set_adapter(self.adapter)
                else:
                    module.enable_adapters(False)

    def trainable_parameters(self) -> list[nn.Parameter]:
        params = list(self.lora)
        if self.embed is not None:
            params += list(self.embed.parameters())
        return params

    def forward(self, x_t: Tensor, t: Tensor, cond: Any, condition: Tensor | None = None) -> Tensor:
        prior = self.prior[0]
        unet = prior.unet
        t = t.expand(x_t.shape[0]) if t.dim() == 0 else t
        hidden = cond.expand(x_t.shape[0], -1, -1) if cond is not None else None
        labels = None
        self._switch(True)
        try:
            if self.embed is not None:
                if condition is None:
                    condition = torch.zeros(x_t.shape[0], self.condition_dim, device=prior.device)
                unet.class_embedding = self.embed
                labels = condition.float().to(prior.device)
            eps = prior.unet_eps(x_t, t, hidden, class_labels=labels)
        finally:
            if self.embed is not None:
                unet.class_embedding = None
            self._switch(False)
        return eps.to(x_t.dtype)
