"""Base of the real-data adapters: ``datasets.load_dataset`` plus image decoding and resizing.

``datasets.load_dataset(path, name, split=..., data_files=...)`` accepts a hub id
(``laolao77/ViRFT_COCO``), a local dataset folder (parquet/JSONL files named like the hub's),
or a packaged builder with files (``path: json, data_files: my.jsonl``); image columns may hold
embedded images or file paths (resolved against ``image_root``).
"""

from __future__ import annotations

import io
import math
import os
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from PIL import Image

from datamodules.sample import Record
from datamodules.sources.base import BadSampleError, Part, Source, SourceSplit
from rewards.boxes import BOX_FORMATS

BoxFormat = Literal["pixel", "norm1000", "unit"]


def fit_size(width: int, height: int, max_pixels: int | None, multiple: int = 1) -> tuple[int, int]:
    """The size an image is resized to: at most ``max_pixels`` pixels, sides multiples of ``multiple``.

    With ``multiple=28`` and Qwen2-VL's ``max_pixels`` this is the processor's ``smart_resize``,
    so the processor does not resize again and boxes stay in the frame the model sees.

    Args:
        width: Original width.
        height: Original height.
        max_pixels: Pixel budget, ``None`` for no limit.
        multiple: Sides are rounded to multiples of this (1: no rounding).

    Returns:
        ``(new_width, new_height)``.
    """
    w = max(multiple, round(width / multiple) * multiple)
    h = max(multiple, round(height / multiple) * multiple)
    if max_pixels is not None and w * h > max_pixels:
        beta = math.sqrt(width * height / max_pixels)
        w = max(multiple, math.floor(width / beta / multiple) * multiple)
        h = max(multiple, math.floor(height / beta / multiple) * multiple)
    return w, h


class _HFSplit(SourceSplit):
    def __init__(self, source: HFSource, dataset: Any) -> None:
        self.source = source
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def record(self, index: int) -> Record:
        return self.source.to_record(self.dataset[index])


def _undecoded(dataset: Any) -> Any:
    """Casts image columns to ``decode=False`` so this module opens (and checks) every image itself."""
    import datasets

    for column, feature in dataset.features.items():
        if isinstance(feature, datasets.Image):
            dataset = dataset.cast_column(column, datasets.Image(decode=False))
        elif isinstance(getattr(feature, "feature", None), datasets.Image):
            dataset = dataset.cast_column(column, type(feature)(datasets.Image(decode=False)))
    return dataset


class HFSource(Source):
    """A dataset loaded with ``datasets.load_dataset``; subclasses map one row to a :class:`Record`.

    Args:
        path: Hub id, local folder or packaged builder (``json``, ``parquet``); default: the
            adapter's hub id.
        name: Dataset configuration, or a list of them (concatenated, e.g. MMMU subjects).
        train_split: Split used for training; ``None``: no train part.
        eval_split: Split used for evaluation; ``None``: no eval part.
        eval_path: Dataset holding the eval split, if not ``path`` (e.g. a separate ``-test`` repo).
        data_files: ``data_files`` of ``load_dataset`` (local JSONL/Parquet files).
        image_root: Folder that relative image paths are resolved against.
        max_pixels: Resize images to at most this many pixels (boxes are rescaled); ``None``: keep.
        size_multiple: Round resized sides to multiples of this (28 for Qwen2-VL).
        box_format: How the model writes boxes (``meta["box_format"]``); ground truth stays in pixels.
    """

    #: Hub id used when ``path`` is not given.
    default_path: ClassVar[str | None] = None

    def __init__(
        self,
        path: str | None = None,
        name: str | list[str] | None = None,
        train_split: str | None = "train",
        eval_split: str | None = None,
        eval_path: str | None = None,
        data_files: str | list[str] | dict[str, str | list[str]] | None = None,
        image_root: str | None = None,
        max_pixels: int | None = None,
        size_multiple: int = 1,
        box_format: BoxFormat = "pixel",
    ) -> None:
        path = path or self.default_path
        if not path:
            raise ValueError(f"{type(self).__name__}: `path` is required")
        if max_pixels is not None and max_pixels < 1:
            raise ValueError(f"max_pixels must be >= 1, got {max_pixels}")
        if size_multiple < 1:
            raise ValueError(f"size_multiple must be >= 1, got {size_multiple}")
        if box_format not in BOX_FORMATS:
            raise ValueError(f"box_format must be one of {BOX_FORMATS}, got {box_format!r}")
        self.path = path
        self.name = name
        self.train_split = train_split
        self.eval_split = eval_split
        self.eval_path = eval_path
        self.data_files = data_files
        self.image_root = image_root
        self.max_pixels = max_pixels
        self.size_multiple = size_multiple
        self.box_format = box_format

    # ---------------------------------------------------------------- loading
    def _load(self, path: str, split: str) -> Any:
        import datasets

        names = self.name if isinstance(self.name, list) else [self.name]
        parts = [datasets.load_dataset(path, n, split=split, data_files=self.data_files) for n in names]
        dataset = parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
        return _undecoded(dataset)

    def split(self, part: Part) -> SourceSplit | None:
        if part == "train":
            return _HFSplit(self, self._load(self.path, self.train_split)) if self.train_split else None
        if self.eval_split is None:
            return None
        return _HFSplit(self, self._load(self.eval_path or self.path, self.eval_split))

    # ------------------------------------------------------------ row helpers
    @staticmethod
    def field(row: Mapping[str, Any], key: str) -> Any:
        """``row[key]``, or a :class:`BadSampleError` naming the missing or empty field."""
        if key not in row:
            raise BadSampleError(f"missing field {key!r} (row has {sorted(row)})")
        value = row[key]
        if value is None:
            # Row-oriented files (JSONL) store a field absent from one row as null.
            raise BadSampleError(f"missing or empty field {key!r}")
        return value

    def open_image(self, value: Any, field: str = "image") -> Image.Image:
        """Opens an image given as ``{"bytes", "path"}``, a path string or a PIL image; returns RGB.

        Raises:
            BadSampleError: If the file is missing or the image cannot be decoded.
        """
        try:
            if isinstance(value, Image.Image):
                image = value
            elif isinstance(value, Mapping) and value.get("bytes"):
                image = Image.open(io.BytesIO(value["bytes"]))
            else:
                path = value.get("path") if isinstance(value, Mapping) else value
                if not isinstance(path, str) or not path:
                    raise BadSampleError(f"field {field!r} holds no image (got {type(value).__name__})")
                if self.image_root and not os.path.isabs(path):
                    path = os.path.join(self.image_root, path)
                if not os.path.isfile(path):
                    raise BadSampleError(f"field {field!r}: missing image file {path!r}")
                image = Image.open(path)
            image.load()
        except BadSampleError:
            raise
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            raise BadSampleError(f"field {field!r}: corrupt image ({err})") from err
        return image.convert("RGB")

    def prepare_image(self, image: Image.Image) -> tuple[Image.Image, float, float]:
        """Resizes per ``max_pixels``/``size_multiple``; returns the image and the x and y scale factors."""
        w, h = image.size
        new_w, new_h = fit_size(w, h, self.max_pixels, self.size_multiple)
        if (new_w, new_h) == (w, h):
            return image, 1.0, 1.0
        return image.resize((new_w, new_h), Image.Resampling.BICUBIC), new_w / w, new_h / h

    def images_of(
        self, row: Mapping[str, Any], keys: tuple[str, ...] = ("image", "images")
    ) -> tuple[list[Image.Image], float, float]:
        """The row's image(s), resized; the scale factors are those of the first image."""
        for key in keys:
            if key in row and row[key] is not None:
                raw = row[key]
                values = raw if isinstance(raw, list) else [raw]
                if not values:
                    raise BadSampleError(f"field {key!r} holds no image")
                prepared = [self.prepare_image(self.open_image(v, key)) for v in values]
                return [p[0] for p in prepared], prepared[0][1], prepared[0][2]
        raise BadSampleError(f"missing field {' or '.join(repr(k) for k in keys)} (row has {sorted(row)})")

    def base_meta(self, images: list[Image.Image]) -> dict[str, Any]:
        """``image_size`` (of the first image, as the model sees it) and ``box_format``."""
        return {"image_size": list(images[0].size), "box_format": self.box_format}

    @abstractmethod
    def to_record(self, row: Mapping[str, Any]) -> Record:
        """Maps one dataset row to a record (images resized, boxes rescaled to match).

        Raises:
            BadSampleError: On a missing field, a missing or corrupt image, or an unparsable answer.
        """
