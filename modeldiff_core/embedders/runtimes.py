"""How a transformer embedder runs its model: the same weights through torch, ONNX Runtime or
OpenVINO. A runtime only answers (`hidden`: token ids in, last hidden states out); chunking,
pooling and caching live in `ChunkedEmbedder`. Exported graphs are kept under the cache folder,
keyed by the weights' digest, so each is made once per machine (seconds, never a download)."""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Optional

import numpy as np

from ..config import LOAD_LOCK, ModelDiffError, cache_dir


class Runtime(ABC):
    """`name` (e.g. "onnx-int8") is part of the embedder's fingerprint: two runtimes give
    vectors that differ in their last digits, so they never share cached rows."""
    name: str

    @abstractmethod
    def hidden(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(batch, tokens, width) float32 last hidden states for int64 ids and mask."""

    def means(self, batches: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        """Each batch's mean token states over its mask (float64), in order; a runtime that
        can run batches side by side does."""
        return [mean_states(self.hidden(ids, mask), mask) for ids, mask in batches]


def mean_states(states: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Sentence-transformers' mean pooling: the average of the unmasked tokens' states."""
    return (states * mask[:, :, None]).sum(axis=1, dtype=np.float64) / mask.sum(
        axis=1, keepdims=True)


def _threads() -> int:
    import torch

    return max(1, torch.get_num_threads())


def _load_torch(path: str):
    from transformers import AutoModel

    try:
        with LOAD_LOCK:
            return AutoModel.from_pretrained(path).eval()
    except Exception as err:  # noqa: BLE001
        raise ModelDiffError(f"cannot load embedding model {path}: {err}") from None


class TorchRuntime(Runtime):
    """The weights in torch; bf16 autocasts the matrix products (fast where the CPU has
    bf16 units, slow where it has not)."""

    def __init__(self, path: str, precision: str = "fp32", device: Optional[str] = None):
        import torch

        self.precision, self.device = precision, device or "cpu"
        self.model = _load_torch(path).to(self.device)
        self.name = f"torch-{precision}"
        self._torch = torch

    def hidden(self, ids, mask):
        torch = self._torch
        bf16 = self.precision == "bf16"
        with torch.inference_mode(), torch.autocast(self.device.split(":")[0],
                                                    dtype=torch.bfloat16, enabled=bf16):
            out = self.model(input_ids=torch.from_numpy(ids).to(self.device),
                             attention_mask=torch.from_numpy(mask).to(self.device))
        return out.last_hidden_state.float().cpu().numpy()


def _hidden_module(path: str):
    """The model as a module of two tensors (ids, mask) to its last hidden states, the form
    the exporters trace."""
    import torch

    class Hidden(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids,
                              attention_mask=attention_mask).last_hidden_state

    return Hidden(_load_torch(path))


def _export_onnx(path: str, target: Path) -> Path:
    """The model as ONNX, by torch's own exporter (optimum cannot be installed beside
    transformers 5)."""
    import torch

    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    model = _hidden_module(path)
    ids = torch.ones((2, 16), dtype=torch.long)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    with torch.no_grad():
        torch.onnx.export(model, (ids, torch.ones_like(ids)), str(tmp),
                          input_names=["input_ids", "attention_mask"],
                          output_names=["hidden"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                        "attention_mask": {0: "batch", 1: "tokens"},
                                        "hidden": {0: "batch", 1: "tokens"}})
    os.replace(tmp, target)  # a half-written file is never read as a model
    return target


def _quantize_int8(source: Path, target: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if not target.exists():
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8)
        os.replace(tmp, target)
    return target


def graph_folder(digest: str) -> Path:
    return cache_dir() / "embedders" / digest


class OnnxRuntime(Runtime):
    """ONNX Runtime on the CPU, fp32 or with int8 weights (dynamic quantization: activations
    are quantized per batch, so no calibration data is needed)."""

    def __init__(self, path: str, digest: str, precision: str = "fp32"):
        import onnxruntime as ort

        folder = graph_folder(digest)
        with LOAD_LOCK:
            graph = _export_onnx(path, folder / "model.onnx")
            if precision == "int8":
                graph = _quantize_int8(graph, folder / "model-int8.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = _threads()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(graph), options,
                                            providers=["CPUExecutionProvider"])
        self.name = f"onnx-{precision}"

    def hidden(self, ids, mask):
        return self.session.run(["hidden"], {"input_ids": ids, "attention_mask": mask})[0]


def _export_openvino(path: str, target: Path) -> Path:
    """The model in OpenVINO's own form, converted from torch (its attention stays one fused
    operation, which the ONNX graph splits up)."""
    import openvino as ov
    import torch

    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    ids = torch.ones((2, 16), dtype=torch.long)
    model = ov.convert_model(_hidden_module(path),
                             example_input={"input_ids": ids, "attention_mask": ids})
    tmp = target.with_name(f"{target.stem}.{os.getpid()}.tmp.xml")
    ov.save_model(model, str(tmp), compress_to_fp16=False)
    os.replace(tmp.with_suffix(".bin"), target.with_suffix(".bin"))
    os.replace(tmp, target)  # the .xml last: it is what says the model is there
    return target


def cpu_has_bf16() -> bool:
    """Whether OpenVINO can run bf16 here (bf16 or AMX units, and not capped below them by
    ONEDNN_MAX_CPU_ISA, as the tests cap them for numbers alike on every machine)."""
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if isa not in ("", "ALL", "DEFAULT") and not any(k in isa for k in ("BF16", "AMX", "AVX10")):
        return False
    try:
        import openvino as ov

        return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # noqa: BLE001 (no OpenVINO, or an odd CPU: the fp32 path works anywhere)
        return False


class OpenVinoRuntime(Runtime):
    """OpenVINO on the CPU; `precision` is its inference precision (bf16 runs on the CPU's
    bf16/AMX units where it has them)."""

    def __init__(self, path: str, digest: str, precision: str = "fp32"):
        import openvino as ov

        with LOAD_LOCK:
            graph = _export_openvino(path, graph_folder(digest) / "openvino.xml")
        core = ov.Core()
        hint = {"fp32": "f32", "bf16": "bf16"}[precision]
        # One stream per core, a thread each: small kernels leave one thread of a shared
        # request idle much of the time (measured ~8% faster than one stream of all threads).
        self.streams = _threads()
        self.model = core.compile_model(str(graph), "CPU", {
            "INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": self.streams,
            "NUM_STREAMS": self.streams})
        self.name = f"openvino-{precision}"
        self._ov = ov

    def hidden(self, ids, mask):
        # A request of its own: the compiled model's shared one is not for two threads.
        request = self.model.create_infer_request()
        return request.infer({"input_ids": ids, "attention_mask": mask})[0].copy()

    def means(self, batches):
        out: list = [None] * len(batches)
        queue = self._ov.AsyncInferQueue(self.model, self.streams)

        def done(request, k):
            out[k] = mean_states(request.get_output_tensor(0).data, batches[k][1])

        queue.set_callback(done)
        for k, (ids, mask) in enumerate(batches):
            queue.start_async({"input_ids": ids, "attention_mask": mask}, k)
        queue.wait_all()
        return out


RUNTIMES = {"torch": TorchRuntime, "onnx": OnnxRuntime, "openvino": OpenVinoRuntime}
