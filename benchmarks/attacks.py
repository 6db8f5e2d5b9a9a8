"""Attack throughput: image-steps per second of foolbox PGD (a measurement, not a test).

    python benchmarks/attacks.py                       # ResNet-50 at 224 px + the demo's models, CPU
    python benchmarks/attacks.py --device cuda --batch 64 --models rn50

One image-step is one forward + backward pass of one image (PGD's inner loop); a 100-step attack of
1000 images at 12 epsilons is 1.2 M image-steps. Random weights: throughput does not depend on them.
Rows: ResNet-50 (torchvision, 224 px, ImageNet normalisation inside; channels_last as extraction
uses it) and the demo's models through a linear head (pixels 16 px, timm ResNet-18 32 px, open_clip
RN50 64 px), each attacked with LinfPGD, random start, `--steps` steps, one epsilon.
"""

from __future__ import annotations

import argparse
import time

import torch

from vlgen.attacks.classifier import FeaturesThenHead
from vlgen.attacks.pgd import PGDSettings, pgd_adversarials
from vlgen.models.heads import ImageClassifier
from vlgen.models.registry import get_source

IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
DEMO = {
    "pixels": {"source": "pixels", "preprocess": {"size": 16, "crop": 16, "interpolation": "bilinear",
                                                   "mean": [0.5] * 3, "std": [0.5] * 3}},
    "resnet18-random": {"source": "timm", "name": "resnet18", "pretrained": False, "init_seed": 0,
                        "preprocess": {"size": 32, "crop": 32, "interpolation": "bicubic",
                                       "mean": IMAGENET[0], "std": IMAGENET[1]}},
    "clip-rn50-random": {"source": "open_clip", "name": "RN50", "pretrained": None, "init_seed": 0, "image_size": 64,
                         "preprocess": {"size": 64, "crop": 64, "interpolation": "bicubic",
                                        "mean": IMAGENET[0], "std": IMAGENET[1]}},
}


def rn50(device: str) -> tuple[torch.nn.Module, int]:
    import torchvision

    network = torchvision.models.resnet50().to(memory_format=torch.channels_last)
    return ImageClassifier(network, *IMAGENET, dim=2048, num_classes=1000), 224


def demo_model(name: str, device: str) -> tuple[torch.nn.Module, int]:
    spec = DEMO[name]
    model = get_source(spec["source"]).load(spec, None, device)
    head = torch.nn.Linear(model.dim, 10)
    pre = spec["preprocess"]
    return ImageClassifier(FeaturesThenHead(model, head), pre["mean"], pre["std"], model.dim, 10), pre["crop"]


def measure(classifier: torch.nn.Module, size: int, batch: int, steps: int, device: str) -> float:
    classifier = classifier.to(device).eval().requires_grad_(False)
    images = torch.rand(batch, 3, size, size, device=device)
    labels = torch.randint(0, classifier.num_classes, (batch,), device=device)
    settings = PGDSettings(steps=steps, rel_stepsize=0.025)
    pgd_adversarials(classifier, images, labels, norm="linf", epsilons=[1e-3], settings=PGDSettings(steps=1),
                     targeted=False)  # warm-up (allocations, cuDNN autotuning)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    pgd_adversarials(classifier, images, labels, norm="linf", epsilons=[1e-3], settings=settings, targeted=False)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="*", default=["rn50", *DEMO])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"device {args.device}, batch {args.batch}, {args.steps} steps, {args.threads} threads")
    print(f"{'model':<20} {'px':>4} {'image-steps/s':>14}")
    for name in args.models:
        classifier, size = rn50(args.device) if name == "rn50" else demo_model(name, args.device)
        rate = measure(classifier, size, args.batch, args.steps, args.device)
        print(f"{name:<20} {size:>4} {rate:>14.1f}")


if __name__ == "__main__":
    main()
