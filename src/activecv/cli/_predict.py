"""``activecv predict``: the model over the pool, into the predictions file ``select`` and
``project round`` read. The service loads the model and decodes the images; the torch adapters
add MC dropout and embeddings; ``activecv.scale.predict_pool`` runs the job, locally or on Ray."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib
import io
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from activecv._errors import InputError
from activecv._files import IMAGE_SUFFIXES, file_sha256, read_text
from activecv.cli._args import pixel_pair
from activecv.cli._project import read_classes

BatchModel = Callable[[np.ndarray], Mapping[str, np.ndarray]]
TORCH_SUFFIXES = (".pt", ".pth", ".torchscript")


def _folder_pool(root: Path) -> tuple[list[str], list[str]]:
    if not root.is_dir():
        raise InputError(f"--images must be a folder of images; got {str(root)!r}, which is not a folder.")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(
            f"--images {str(root)!r} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})."
        )
    return [p.relative_to(root).as_posix() for p in files], [str(p.resolve()) for p in files]


def _manifest_entries(manifest: Path) -> list[str]:
    """Paths of a CSV (a ``path`` column, else the first) or JSONL (``{"path": ...}``) manifest."""
    text = read_text(manifest, "--manifest")
    if manifest.suffix.lower() == ".jsonl":
        entries = []
        for n, line in enumerate(text.splitlines(), 1):
            try:
                entries += [str(json.loads(line)["path"])] if line.strip() else []
            except (ValueError, KeyError, TypeError):
                raise InputError(
                    f"line {n} of --manifest {str(manifest)!r} must be a JSON object with 'path'."
                ) from None
        return entries
    rows = [row for row in csv.reader(io.StringIO(text, newline="")) if any(row)]
    column = rows[0].index("path") if rows and "path" in rows[0] else 0
    return [row[column] for row in rows[1 if rows and "path" in rows[0] else 0 :] if column < len(row)]


def _manifest_pool(manifest: Path) -> tuple[list[str], list[str]]:
    entries = _manifest_entries(manifest)
    if not entries:
        raise InputError(
            f"--manifest {str(manifest)!r} lists no images; write one path per line (or a 'path' column)."
        )
    uris = [e for e in entries if "://" in e]
    if uris:
        raise InputError(
            f"--manifest lists URIs ({uris[0]!r}); predict reads local files: download them first."
        )
    files = [str((manifest.parent / e).resolve()) for e in entries]
    return entries, files


def _project_pool(directory: Path) -> tuple[list[str], list[str], tuple[str, ...]]:
    from activecv.project import Project

    project = Project(directory)
    items = project.items()
    files = [str(project.local_path(item.path)) for item in items]
    return [item.path for item in items], files, project.classes


def _classes(args: argparse.Namespace, found: tuple[str, ...] | None) -> tuple[str, ...]:
    if args.classes is not None:
        text = args.classes.strip()
        return tuple(str(i) for i in range(int(text))) if text.isdigit() else tuple(read_classes(text))
    if found is None:
        raise InputError(
            "--classes is required with --images or --manifest: the model's classes as a,b,c, @FILE "
            "(one per line) or a count (10); with --project they are the project's."
        )
    return found


@dataclasses.dataclass(frozen=True)
class ImageDecoder:
    """An image file to the model's input (channels, H, W), by the service's decoder."""

    spec: Any  # activecv.service.ModelSpec
    max_pixels: int

    def __call__(self, file: str) -> np.ndarray:
        from activecv.service import ImageRejected, decode_image

        try:
            data = Path(file).read_bytes()
        except OSError as exc:
            raise InputError(f"image {file!r} cannot be read ({exc.strerror}).") from None
        try:
            return decode_image(data, None, self.spec, self.max_pixels).pixels
        except ImageRejected as exc:
            raise InputError(f"image {file!r} cannot be used: {exc}") from None


@dataclasses.dataclass(frozen=True)
class ModelLoader:
    """Loads the model once per process: probabilities through the service's predictor, plus
    ``mc_probs`` (MC dropout) and ``embeddings`` (an ONNX output or a torch layer) on request."""

    spec: Any  # activecv.service.ModelSpec
    mc_samples: int | None = None
    embeddings: str | None = None
    seed: int = 0

    def __call__(self) -> BatchModel:
        from activecv.service import load_predictor

        path = Path(self.spec.model)
        if ":" in self.spec.model and not path.exists():
            return self._entry_point()
        if path.suffix.lower() == ".onnx" and self.mc_samples is not None:
            raise InputError(
                "--mc-samples needs a torch model (module:callable returning a torch.nn.Module); an ONNX "
                "graph is exported in eval mode, its dropout removed. Export the model's training graph "
                "yourself and pass it as module:callable, or drop --mc-samples."
            )
        if path.suffix.lower() in TORCH_SUFFIXES and (self.mc_samples is not None or self.embeddings):
            raise InputError(
                "--mc-samples and --embeddings need forward hooks, which TorchScript modules do not take; "
                f"pass the model as module:callable returning the torch.nn.Module (got {self.spec.model!r})."
            )
        if path.suffix.lower() == ".onnx" and self.embeddings:
            return self._onnx_with_embeddings(path)
        predictor = load_predictor(self.spec)
        return lambda batch: {"probs": np.asarray(predictor.predict(batch), dtype=np.float32)}

    def _onnx_with_embeddings(self, path: Path) -> BatchModel:
        import onnxruntime

        from activecv.service import Predictor

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        outputs = [o.name for o in session.get_outputs()]
        if self.embeddings not in outputs:
            raise InputError(
                f"--embeddings {self.embeddings!r} is not an output of {str(path)!r}; its outputs: {outputs}."
            )
        feed, captured = session.get_inputs()[0].name, {}

        def run(batch: np.ndarray) -> np.ndarray:
            scores, captured["embeddings"] = session.run([outputs[0], self.embeddings], {feed: batch})
            return np.asarray(scores)

        predictor = Predictor(self.spec, run, path.stem).check()

        def model(batch: np.ndarray) -> dict[str, np.ndarray]:
            probs = np.asarray(predictor.predict(batch), dtype=np.float32)
            features = np.asarray(captured["embeddings"], dtype=np.float32).reshape(batch.shape[0], -1)
            return {"probs": probs, "embeddings": features}

        return model

    def _entry_point(self) -> BatchModel:
        from activecv.service import Predictor

        module_name, _, attribute = self.spec.model.partition(":")
        try:
            made = getattr(importlib.import_module(module_name), attribute)()
        except (ImportError, AttributeError) as exc:
            raise InputError(f"--model {self.spec.model!r} cannot be loaded: {exc}.") from None
        if _is_torch_module(made):
            return self._torch(made)
        if self.mc_samples is not None or self.embeddings:
            raise InputError(
                f"--mc-samples and --embeddings need --model {self.spec.model!r} to return a "
                f"torch.nn.Module; it returned {type(made).__name__}."
            )
        if not callable(made):
            raise InputError(
                f"--model {self.spec.model!r} must return a function of the image batch or a torch module."
            )
        predictor = Predictor(self.spec, made, self.spec.model).check()
        return lambda batch: {"probs": np.asarray(predictor.predict(batch), dtype=np.float32)}

    def _torch(self, module: Any) -> BatchModel:
        import torch

        from activecv.adapters.torch import embed, iter_predict
        from activecv.service import Predictor

        module = module.eval()

        def logits(batch: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return np.asarray(module(torch.from_numpy(batch)).float().numpy())

        predictor = Predictor(self.spec, logits, self.spec.model).check()

        def model(batch: np.ndarray) -> dict[str, np.ndarray]:
            out = {"probs": np.asarray(predictor.predict(batch), dtype=np.float32)}
            if self.mc_samples is not None:
                samples = iter_predict(module, batch, len(batch), mc_samples=self.mc_samples, seed=self.seed)
                out["mc_probs"] = np.concatenate(list(samples))
            if self.embeddings:
                out["embeddings"] = embed(module, batch, self.embeddings, batch_size=len(batch))
            return out

        if self.embeddings:  # a wrong layer name fails now, not on the first shard
            embed(
                module, np.zeros((1, self.spec.channels, *self.spec.input_size), np.float32), self.embeddings
            )
        return model


def _is_torch_module(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.nn.Module)


def _job(args: argparse.Namespace, spec: Any) -> dict[str, Any]:
    path = Path(args.model)
    digest = file_sha256(path) if path.is_file() else None
    settings = {k: v for k, v in dataclasses.asdict(spec).items() if k != "model"}
    return {
        "model": args.model,
        "model_sha256": digest,
        **settings,
        "mc_samples": args.mc_samples,
        "embeddings": args.embeddings,
        "seed": args.seed,
    }


def _predict(args: argparse.Namespace) -> int:
    from activecv.scale import predict_pool
    from activecv.service import ModelSpec

    found: tuple[str, ...] | None = None
    if args.project is not None:
        ids, files, found = _project_pool(args.project)
    elif args.manifest is not None:
        ids, files = _manifest_pool(args.manifest)
    else:
        ids, files = _folder_pool(args.images)
    if args.mc_samples is not None and args.mc_samples < 1:
        raise InputError(f"--mc-samples must be an integer >= 1; got {args.mc_samples}.")
    spec = ModelSpec(
        model=args.model,
        task=args.task,
        classes=_classes(args, found),
        input_size=args.input_size,
        channels=args.channels,
        mean=args.mean,
        std=args.std,
        outputs=args.outputs,
    )
    report = predict_pool(
        ids,
        files,
        ModelLoader(spec, args.mc_samples, args.embeddings, args.seed),
        ImageDecoder(spec, args.max_pixels),
        args.out,
        job=_job(args, spec),
        batch_size=args.batch_size,
        shard_rows=args.shard_size,
        engine=args.engine,
        concurrency=args.concurrency,
        num_gpus=args.num_gpus,
        num_cpus=args.workers,
        progress=not args.quiet,
    )
    if not args.quiet:
        reused = f", {report.shards_reused} of them from an earlier run" if report.shards_reused else ""
        print(
            f"predicted {report.items:,} images in {report.seconds:.1f} s ({report.shards_total} shards in "
            f"{report.shards}{reused}); wrote {report.out}",
            file=sys.stderr,
        )
    return 0


def add_predict_parser(commands: Any) -> None:
    cmd = commands.add_parser(
        "predict",
        help="run a model over the pool and write the predictions file select and project round read",
        description="Resumable: shards are kept in OUT.shards and a rerun skips the ones written.",
    )
    cmd.add_argument("--model", required=True, help=".onnx, TorchScript .pt, or module:callable")
    pool = cmd.add_mutually_exclusive_group(required=True)
    pool.add_argument("--images", type=Path, help="a folder of images (ids: paths relative to it)")
    pool.add_argument("--manifest", type=Path, help="CSV (path column) or JSONL of image paths")
    pool.add_argument("--project", type=Path, help="an activecv project: its registered images and classes")
    cmd.add_argument("--out", required=True, type=Path, help="the .parquet predictions file")
    cmd.add_argument("--classes", help="a,b,c, @FILE or a count; default: the project's")
    cmd.add_argument("--task", choices=["classification"], default="classification")
    cmd.add_argument("--input-size", type=pixel_pair("HEIGHT,WIDTH"), default=(28, 28), metavar="H,W")
    cmd.add_argument("--channels", type=int, choices=[1, 3], default=1)
    cmd.add_argument("--mean", type=float, default=0.0, help="after scaling pixels to [0, 1]")
    cmd.add_argument("--std", type=float, default=1.0)
    cmd.add_argument(
        "--outputs", choices=["logits", "probs"], default="logits", help="what the model returns"
    )
    cmd.add_argument(
        "--mc-samples", type=int, help="also write mc_probs (N, K, C): K MC-dropout passes (torch)"
    )
    cmd.add_argument(
        "--embeddings", help="also write embeddings (N, D): an ONNX output name or a torch layer"
    )
    cmd.add_argument("--seed", type=int, default=0, help="MC-dropout masks (default 0)")
    cmd.add_argument("--batch-size", type=int, default=256, help="images per model call (default 256)")
    cmd.add_argument("--shard-size", type=int, default=4096, help="images per shard (default 4096)")
    cmd.add_argument("--max-pixels", type=int, default=40_000_000, help="per image")
    cmd.add_argument(
        "--engine", choices=["local", "ray"], default="local", help="ray: RAY_ADDRESS or a local Ray"
    )
    cmd.add_argument("--concurrency", type=int, default=1, help="--engine ray: model actors (default 1)")
    cmd.add_argument("--num-gpus", type=float, default=0.0, help="--engine ray: GPUs per actor (default 0)")
    cmd.add_argument("--workers", type=int, help="--engine ray without RAY_ADDRESS: CPUs of the local Ray")
    cmd.add_argument("--quiet", action="store_true", help="no progress lines")
    cmd.set_defaults(run=_predict)
