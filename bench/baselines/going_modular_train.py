"""A plain 'going modular' training script: image folders, TinyVGG, train_step/test_step, no mlpact.

The same layout as the course (data_setup.py + model_builder.py + engine.py + train.py in one
file), with PIL + NumPy in place of torchvision (not usable here). Prints JSON: training and
inference images/s (the fastest of PASSES passes over the test images), timed around the loops
only (imports and data discovery excluded), as mlpact's figures are.

    python going_modular_train.py DATA_DIR --batch_size 32 --lr 0.001 --num_epochs 2 --hidden_units 10
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import DataLoader, Dataset

import torch
from torch import nn

PASSES = 5  # inference: the fastest of this many passes over the test images (as bench_torch.py)


class ImageFolder(Dataset):  # data_setup.py
    def __init__(self, root: Path, size: int) -> None:
        self.classes = sorted(p.name for p in root.iterdir() if p.is_dir())
        self.items = [
            (p, i) for i, c in enumerate(self.classes) for p in sorted((root / c).glob("*.[pj][np]g"))
        ]
        self.size = size

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.items[index]
        img = Image.open(path).convert("RGB").resize((self.size, self.size), Image.Resampling.BILINEAR)
        array = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0
        return torch.from_numpy(np.ascontiguousarray(array)), label


class TinyVGG(nn.Module):  # model_builder.py
    def __init__(self, input_shape: int, hidden_units: int, output_shape: int) -> None:
        super().__init__()
        self.conv_block_1 = nn.Sequential(
            nn.Conv2d(input_shape, hidden_units, 3, 1, 0), nn.ReLU(),
            nn.Conv2d(hidden_units, hidden_units, 3, 1, 0), nn.ReLU(), nn.MaxPool2d(2, 2),
        )  # fmt: skip
        self.conv_block_2 = nn.Sequential(
            nn.Conv2d(hidden_units, hidden_units, 3, 1, 0), nn.ReLU(),
            nn.Conv2d(hidden_units, hidden_units, 3, 1, 0), nn.ReLU(), nn.MaxPool2d(2, 2),
        )  # fmt: skip
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(hidden_units * 13 * 13, output_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.conv_block_2(self.conv_block_1(x)))


def train_step(model, loader, loss_fn, optimizer, device):  # engine.py
    model.train()
    for X, y in loader:
        X, y = X.to(device), y.to(device)
        loss = loss_fn(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def predict_all(model, loader, device) -> tuple[int, int]:
    model.eval()
    n = right = 0
    with torch.inference_mode():
        for X, y in loader:
            proba = torch.softmax(model(X.to(device)), dim=1).cpu()
            right += int((proba.argmax(dim=1) == y).sum())
            n += len(X)
    return n, right


def main() -> None:  # train.py
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--num_epochs", type=int, default=2)
    parser.add_argument("--hidden_units", type=int, default=10)
    args = parser.parse_args()
    torch.manual_seed(42)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    train_data, test_data = (
        ImageFolder(Path(args.data) / "train", 64),
        ImageFolder(Path(args.data) / "test", 64),
    )
    train_loader = DataLoader(train_data, batch_size=args.batch_size, shuffle=True)
    test_loader = DataLoader(test_data, batch_size=args.batch_size, shuffle=False)
    model = TinyVGG(3, args.hidden_units, len(train_data.classes)).to(device)
    loss_fn, optimizer = nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=args.lr)
    start = time.perf_counter()
    for _ in range(args.num_epochs):
        train_step(model, train_loader, loss_fn, optimizer, device)
    train_s = time.perf_counter() - start
    infer_s = float("inf")
    for _ in range(PASSES):  # the fastest of a few passes: one pass of 90 images is ~0.1 s
        start = time.perf_counter()
        n, right = predict_all(model, test_loader, device)
        infer_s = min(infer_s, time.perf_counter() - start)
    torch.save(model.state_dict(), Path(args.data) / "going_modular.pth")
    out = {
        "train_images_per_s": len(train_data) * args.num_epochs / train_s,
        "infer_images_per_s": n / infer_s,
        "test_accuracy": right / n,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
