"""Gathering rows of processed prompts, image patches included (for group repeats and minibatches).

Qwen-style processors flatten all images' patches into one ``pixel_values`` tensor with one
``image_grid_thw`` row per image; selecting rows of such a batch moves whole image blocks with their rows.
Which tensors are per image is decided by their names and the known images per row, never by comparing a
tensor's length with the number of rows: a batch can hold as many images as rows without one per row (a
two-image prompt beside a text-only one).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from datamodules.sample import Sample

#: Processor outputs with one entry per image (``image_grid_thw``) or per image patch (``pixel_values``).
PER_IMAGE_KEYS: tuple[str, ...] = ("image_grid_thw",)
PER_PATCH_KEYS: tuple[str, ...] = ("pixel_values",)


def select_rows(inputs: dict[str, Tensor], images_per_row: Sequence[int], rows: Sequence[int]) -> dict[str, Tensor]:
    """Gather rows of processed inputs, in the order given (rows may repeat).

    ``image_grid_thw`` (one row per image) and Qwen-style flattened ``pixel_values`` (the patches of every image,
    in order) are gathered per row as blocks of that row's images; other tensors with a leading batch dimension
    are indexed row-wise.

    Args:
        inputs: processor output for ``B`` rows.
        images_per_row: number of images of each of the ``B`` rows.
        rows: row indices to gather.

    Returns:
        Inputs for ``len(rows)`` rows.

    Raises:
        ValueError: ``images_per_row`` does not match ``image_grid_thw`` (counts of images differ).
    """
    b = len(images_per_row)
    index = torch.as_tensor(list(rows), dtype=torch.long)
    grid = inputs.get("image_grid_thw")
    if grid is not None and int(sum(images_per_row)) != grid.shape[0]:
        raise ValueError(f"images_per_row counts {sum(images_per_row)} images but image_grid_thw has {grid.shape[0]}")
    first_image = [0]
    for n in images_per_row:
        first_image.append(first_image[-1] + n)
    image_rows = [j for r in rows for j in range(first_image[r], first_image[r + 1])]
    out: dict[str, Tensor] = {}
    for key, value in inputs.items():
        if not isinstance(value, Tensor):
            out[key] = value
        elif key in PER_PATCH_KEYS and grid is not None and value.ndim == 2:
            per_image = torch.split(value, grid.prod(dim=-1).tolist())
            blocks = [per_image[j] for j in image_rows]
            out[key] = torch.cat(blocks) if blocks else value[:0]
        elif key in PER_IMAGE_KEYS and grid is not None:
            out[key] = value[torch.as_tensor(image_rows, dtype=torch.long, device=value.device)]
        elif value.ndim and value.shape[0] == b:
            out[key] = value[index.to(value.device)]
        else:
            out[key] = value
    return out


def repeat_inputs(inputs: dict[str, Tensor], samples: Sequence[Sample], repeats: int) -> dict[str, Tensor]:
    """Repeat every prompt's processed inputs ``repeats`` times, consecutively (p0, p0, ..., p1, ...).

    Args:
        inputs: processor output for ``B`` prompts.
        samples: the ``B`` samples (their image counts split the flattened patches).
        repeats: G.

    Returns:
        Inputs for ``B * repeats`` rows.
    """
    rows = [i for i in range(len(samples)) for _ in range(repeats)]
    return select_rows(inputs, [len(s.images) for s in samples], rows)
