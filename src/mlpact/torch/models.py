"""Ready-made modules: TinyVGG (the course's image classifier) and an MLP for tabular data.

Any `torch.nn.Module` works the same way through `model.type`; these two only save writing one.
"""

from __future__ import annotations

from mlpact.errors import MissingDependencyError

try:
    import torch
    from torch import nn
except ImportError:  # pragma: no cover - the torch extra is missing
    raise MissingDependencyError("torch", extra="torch", feature="PyTorch models") from None


def _conv_out(size: int) -> int:
    """The side of a TinyVGG block's output: two unpadded 3x3 convolutions, then a 2x2 max-pool."""
    return (size - 4) // 2


class TinyVGG(nn.Module):
    """The TinyVGG of the CNN explainer and the 'going modular' course.

    Args:
        input_shape: input channels (3 for RGB; filled in from the data).
        hidden_units: channels of every convolution.
        output_shape: number of classes (filled in from the data).
        image_size: side of square input images, or [height, width] (filled in from the transforms).
    """

    def __init__(
        self,
        input_shape: int = 3,
        hidden_units: int = 10,
        output_shape: int = 3,
        image_size: int | list[int] = 64,
    ) -> None:
        super().__init__()
        height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
        sides = _conv_out(_conv_out(height)), _conv_out(_conv_out(width))
        if min(sides) < 1:
            raise ValueError(f"TinyVGG needs images of at least 16x16 pixels, got image_size={image_size}")
        self.conv_block_1 = self._block(input_shape, hidden_units)
        self.conv_block_2 = self._block(hidden_units, hidden_units)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(hidden_units * sides[0] * sides[1], output_shape)
        )

    @staticmethod
    def _block(channels_in: int, channels: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(channels_in, channels, kernel_size=3, stride=1, padding=0),
            nn.ReLU(),
            nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=0),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.classifier(self.conv_block_2(self.conv_block_1(x)))
        return out


class MLP(nn.Module):
    """A multi-layer perceptron for tabular features.

    Args:
        in_features: number of input features after preprocessing (filled in from the data).
        hidden_units: width of each hidden layer; a list gives one layer per entry.
        output_shape: classes, or 1 for regression (filled in from the data).
        dropout: dropout after every hidden layer.
    """

    def __init__(
        self,
        in_features: int = 1,
        hidden_units: int | list[int] = 64,
        output_shape: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        widths = [hidden_units] if isinstance(hidden_units, int) else list(hidden_units)
        layers: list[nn.Module] = []
        for width in widths:
            layers += [nn.Linear(in_features, width), nn.ReLU()]
            layers += [nn.Dropout(dropout)] if dropout else []
            in_features = width
        layers.append(nn.Linear(in_features, output_shape))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.layers(x)
        return out
