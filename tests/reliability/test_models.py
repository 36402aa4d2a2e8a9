"""Broken models through the CLI: a missing folder, a partial or corrupt pipeline folder, a
hub id with no network, a pipeline of the wrong type. Each is one `error:` line, exit 2,
no traceback and no output file. Never touches the network (HF_HUB_OFFLINE=1)."""

import json
import shutil

import pytest

pytestmark = pytest.mark.usefixtures("one_thread")


def broken_copy(tiny_sd_path, tmp_path, how):
    folder = tmp_path / "model"
    shutil.copytree(tiny_sd_path, folder)
    index = folder / "model_index.json"
    if how == "no unet folder":
        shutil.rmtree(folder / "unet")
    elif how == "no unet config":
        (folder / "unet" / "config.json").unlink()
    elif how == "corrupt model_index.json":
        index.write_text('{"_class_name": "StableDiffusionPipeline", "unet": [')
    elif how == "truncated weights":
        weights = next((folder / "unet").glob("diffusion_pytorch_model.*"))
        weights.write_bytes(weights.read_bytes()[:100])
    elif how == "SDXL pipeline":
        data = json.loads(index.read_text())
        data.update(_class_name="StableDiffusionXLPipeline", text_encoder_2=["transformers", "CLIPTextModelWithProjection"])
        index.write_text(json.dumps(data))
    elif how == "no UNet at all":
        data = json.loads(index.read_text())
        data.pop("unet")
        data["_class_name"] = "AudioLDMPipeline"
        index.write_text(json.dumps(data))
        shutil.rmtree(folder / "unet")
    return folder


CASES = {
    "no unet folder": "incomplete: missing unet",
    "no unet config": "incomplete: missing unet/config.json",
    "corrupt model_index.json": "model_index.json is unreadable",
    "truncated weights": "cannot load model",
    "SDXL pipeline": "SDXL-style",
    "no UNet at all": "without a UNet",
}


def assert_one_line(code, err, expected, out):
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0], err
    assert not out.exists()


@pytest.mark.parametrize("how", list(CASES))
def test_broken_model_folder_is_one_clear_error(run_cli, tiny_sd_path, tmp_path, monkeypatch, how):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = broken_copy(tiny_sd_path, tmp_path, how)
    out = tmp_path / "o.svg"
    assert_one_line(*run_cli("make", "red heart", out, "--model", model, "--steps", "1", "-q"), CASES[how], out)


def test_missing_model_folder(run_cli, tmp_path):
    out = tmp_path / "o.svg"
    assert_one_line(*run_cli("make", "x", out, "--model", "/nonexistent", "-q"), "model folder /nonexistent does not exist", out)


def test_hub_id_without_network(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "o.svg"
    code, err = run_cli("make", "x", out, "--model", "vecdistill-tests/not-downloaded", "-q")
    assert_one_line(code, err, "HF_HUB_OFFLINE is set; it is not in the local cache", out)


def test_edit_reports_the_same_model_errors(run_cli, tmp_path):
    src = tmp_path / "in.svg"
    src.write_text('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><rect width="4" height="4"/></svg>')
    out = tmp_path / "o.svg"
    code, err = run_cli("edit", src, out, "--source", "a", "--target", "b", "--model", tmp_path / "nope", "-q")
    assert_one_line(code, err, "does not exist", out)
