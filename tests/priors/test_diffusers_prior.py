"""DiffusersPrior on tiny random pipelines built offline (tests/conftest.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import warnings

import pytest
import torch

from vecdistill.errors import ModelError
from vecdistill.priors import load_prior

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def latent_prior(tiny_sd_path):
    return load_prior(str(tiny_sd_path))


def test_latent_prior_shapes_and_encoding(latent_prior, tiny_sd_path) -> None:
    from diffusers import AutoencoderKL

    p = latent_prior
    assert p.image_size == (32, 32) and p.dtype == torch.float32 and p.num_train_timesteps == 1000
    img = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    x0 = p.encode(img)
    vae = AutoencoderKL.from_pretrained(str(tiny_sd_path), subfolder="vae")
    with torch.no_grad():
        expected = vae.encode(img * 2 - 1).latent_dist.mean * vae.config.scaling_factor
    torch.testing.assert_close(x0.detach(), expected)
    assert p.encode(torch.rand(1, 3, 50, 40)).shape == (1, 4, 16, 16)  # resized
    assert p.decode(x0.detach()).shape == (2, 3, 32, 32)


def test_schedule_is_the_schedulers(latent_prior, tiny_sd_path) -> None:
    from diffusers import DDIMScheduler

    sched = DDIMScheduler.from_pretrained(str(tiny_sd_path), subfolder="scheduler")
    torch.testing.assert_close(latent_prior.alphas_cumprod, sched.alphas_cumprod.float())


def test_prompts_cached_and_embedded(latent_prior) -> None:
    a = latent_prior.encode_prompt("a red cat")
    assert latent_prior.encode_prompt("a red cat") is a
    assert a.cond.shape == (1, 16, 32) and a.uncond.shape == (1, 16, 32)
    assert not torch.equal(a.cond, a.uncond)


def test_many_predictions_in_one_unet_call(latent_prior) -> None:
    p = latent_prior
    calls = []
    handle = p.unet.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    try:
        pr = p.encode_prompt("a red cat")
        x = torch.randn(3, 4, 16, 16)
        t = torch.tensor([10, 500, 900])
        many = p.predict_noise_many([x, x, x], [t, t, t], [pr.uncond, pr.cond, pr.cond])
    finally:
        handle.remove()
    assert calls == [9]
    torch.testing.assert_close(many[1], p.predict_noise(x, t, pr.cond), rtol=1e-4, atol=1e-5)


def test_v_prediction_and_scaling_factor_from_config(tiny_sd_path, tmp_path) -> None:
    """A copy with v-prediction and another VAE scaling factor: eps must reproduce the x0
    that diffusers' own scheduler predicts from the v output."""
    from diffusers import DDIMScheduler

    folder = tmp_path / "vpred"
    shutil.copytree(tiny_sd_path, folder)
    for sub, key, value in (("scheduler", "prediction_type", "v_prediction"), ("vae", "scaling_factor", 0.5)):
        cfg_file = folder / sub / ("scheduler_config.json" if sub == "scheduler" else "config.json")
        cfg = json.loads(cfg_file.read_text())
        cfg[key] = value
        cfg_file.write_text(json.dumps(cfg))
    p = load_prior(str(folder))
    q = load_prior(str(tiny_sd_path))
    img = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(p.encode(img).detach(), q.encode(img).detach() * (0.5 / 0.18215), rtol=1e-4, atol=1e-5)
    pr = p.encode_prompt("a dog")
    x_t = torch.randn(1, 4, 16, 16)
    t = torch.tensor([600])
    eps = p.predict_noise(x_t, t, pr.cond)
    with torch.no_grad():
        v = p.unet(x_t, t, encoder_hidden_states=pr.cond).sample
    sched = DDIMScheduler.from_pretrained(str(folder), subfolder="scheduler")
    sched.set_timesteps(1000)
    x0_diffusers = sched.step(v, 600, x_t).pred_original_sample
    a = p.alphas_cumprod[600]
    torch.testing.assert_close((x_t - (1 - a).sqrt() * eps) / a.sqrt(), x0_diffusers, rtol=1e-4, atol=1e-4)


def test_pixel_space_prior(tiny_pixel_path) -> None:
    p = load_prior(str(tiny_pixel_path))
    assert p.vae is None and p.image_size == (16, 16)
    img = torch.rand(2, 3, 16, 16)
    torch.testing.assert_close(p.encode(img), img * 2 - 1)
    e = p.predict_noise(p.encode(img), torch.tensor([5, 700]), p.encode_prompt("x").cond)
    assert e.shape == (2, 3, 16, 16) and torch.isfinite(e).all()


def test_missing_partial_and_wrong_folders(tiny_sd_path, tmp_path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        load_prior(str(tmp_path / "nope" / "model"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="not a diffusers pipeline folder"):
        load_prior(str(empty))
    partial = tmp_path / "partial"
    shutil.copytree(tiny_sd_path, partial)
    shutil.rmtree(partial / "vae")
    (partial / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(ModelError, match="incomplete: missing unet/ weights, vae/"):
        load_prior(str(partial))
    flux = tmp_path / "flux"
    flux.mkdir()
    (flux / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline", "transformer": ["diffusers", "FluxTransformer2DModel"]}))
    with pytest.raises(ModelError, match="without a UNet"):
        load_prior(str(flux))


def test_offline_hub_id_fails_fast_naming_the_model(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    from diffusers import DiffusionPipeline  # noqa: F401 - time the failure, not the import

    start = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ModelError, match=r"'someone/not-a-cached-model'.*HF_HUB_OFFLINE"):
            load_prior("someone/not-a-cached-model")
    assert time.monotonic() - start < 20
    # the one-line error is all a user sees: no library deprecation notices around it
    assert not [w for w in caught if "local_dir_use_symlinks" in str(w.message)]


def test_package_import_is_light() -> None:
    code = "import sys, vecdistill.priors, vecdistill.distill; print('diffusers' in sys.modules or 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unreachable_hub_uses_the_cache_only(tmp_path, monkeypatch) -> None:
    import vecdistill.priors.diffusers_prior as dp

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(dp, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(ModelError, match=r"'org/model'.*unreachable.*HF_HUB_OFFLINE=1"):
        load_prior("org/model")


def test_unconditional_pixel_unet2dmodel_folder(tmp_path) -> None:
    """A DDPMPipeline-style folder (UNet2DModel, no text encoder, no VAE): prompts are
    ignored, every objective still runs (VSD falls back to the residual copy)."""
    from diffusers import DDPMScheduler, UNet2DModel

    from vecdistill.distill import METHODS, build_objective

    folder = tmp_path / "ddpm"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        UNet2DModel(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(32, 32), layers_per_block=1,
                    down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D")).save_pretrained(folder / "unet")
    DDPMScheduler(beta_schedule="linear").save_pretrained(folder / "scheduler")
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "DDPMPipeline", "unet": ["diffusers", "UNet2DModel"], "scheduler": ["diffusers", "DDPMScheduler"]}))
    p = load_prior(str(folder))
    assert p.image_size == (8, 8) and not p.conditional
    pr = p.encode_prompt("anything")
    assert pr.cond is None and pr.info["unconditional_model"]
    x0 = p.encode(torch.rand(2, 3, 8, 8)).requires_grad_()
    for method in sorted(METHODS):
        r = build_objective(method, p, "a", source="b", guidance_scale=1.0)(x0, 0.5, torch.Generator().manual_seed(0), reference=x0.detach() + 0.1)
        assert torch.isfinite(r.grad).all(), method
