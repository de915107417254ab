"""Torch adapters: MC-dropout and embedding throughput on the 5,000 bundled MNIST images.

    python benchmarks/bench_torch.py > benchmarks/results/torch.jsonl

Baselines in the same run: K plain ``predict`` calls for ``mc_predict`` (K = 20, Gal CNN);
BADGE gradient embeddings by per-sample autograd (the generic route) for the closed form.
Models are untrained and seeded: throughput does not depend on the weights.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from _measure import machine, measure

K = 20
AUTOGRAD_ITEMS = 500  # per-sample backward is slow; its rate is measured on a subset


def images() -> np.ndarray:
    from activecv.datasets import load

    data = load("mnist5k")
    return np.concatenate([data.x_train, data.x_test])[:, None]


def model(name: str):
    import torch

    from activecv.adapters.torch import build_model

    torch.manual_seed(0)
    return build_model(name, 10, (1, 28, 28))


def mc_predict_run(consistent: bool):
    from activecv.adapters.torch import mc_predict

    x, net = images(), model("gal_cnn")
    return lambda: (x.shape[0] * K, mc_predict(net, x, k=K, consistent=consistent).shape)


def k_predicts():
    from activecv.adapters.torch import predict

    x, net = images(), model("gal_cnn")

    def run():
        shapes = [predict(net, x).shape for _ in range(K)]  # K full passes, like mc_predict's K
        return x.shape[0] * K, shapes[-1]

    return run


def single(fn_name: str, model_name: str):
    import activecv.adapters.torch as adapters

    x, net = images(), model(model_name)
    fn = getattr(adapters, fn_name)
    args = ("features",) if fn_name == "embed" else ()
    return lambda: (x.shape[0], fn(net, x, *args).shape)


def autograd_gradients(model_name: str):
    import torch

    x, net = images()[:AUTOGRAD_ITEMS], model(model_name)
    net.eval()

    def run():
        out = []
        for item in torch.from_numpy(x):
            logits = net(item[None])
            loss = torch.nn.functional.cross_entropy(logits, logits.argmax(dim=1))
            (grad,) = torch.autograd.grad(loss, net.fc.weight)
            out.append(grad.flatten())
        return x.shape[0], tuple(torch.stack(out).shape)

    return run


def main() -> None:
    print(f"machine: {machine()}", file=sys.stderr)
    runs = [
        ("mc_predict consistent, K=20", "gal_cnn", mc_predict_run, (True,)),
        ("mc_predict per-item masks, K=20", "gal_cnn", mc_predict_run, (False,)),
        ("20 x predict", "gal_cnn", k_predicts, ()),
    ]
    for model_name in ("gal_cnn", "small_resnet"):
        runs += [
            ("predict", model_name, single, ("predict", model_name)),
            ("embed", model_name, single, ("embed", model_name)),
            ("gradient_embeddings closed form", model_name, single, ("gradient_embeddings", model_name)),
            ("gradient_embeddings per-sample autograd", model_name, autograd_gradients, (model_name,)),
        ]
    for label, model_name, fn, args in runs:
        out = measure(fn, *args)
        items, shape = out.pop("result")
        out["images_per_s"] = items / out["seconds"]
        print(
            json.dumps({"method": label, "model": model_name, "items": items, "shape": shape, **out}),
            flush=True,
        )


if __name__ == "__main__":
    main()
