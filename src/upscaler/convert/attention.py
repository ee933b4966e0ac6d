"""TensorFlow renderings of the transformer ops: LayerNorm and the two window attentions.

Kept out of :mod:`upscaler.convert.builder` because they are the only ops that reshape
the image into windows; the builder maps the op types to these functions like any other.

Layout: tensors stay NHWC throughout. A window partition is one reshape, one transpose
and one reshape (``[B, H, W, C]`` → ``[B·nW, window², C]``), and the per-pixel linear
maps (qkv, projection) run as one matrix product over every pixel, so the graph has no
per-window loop and its cost grows linearly with the image. The relative-position index
(which bias-table row each pair of window pixels reads) depends only on the window size:
it is a numpy constant made at build time. The shifted-window mask depends on the padded
image size, which varies from tile to tile, so it is computed inside the graph from the
input's dynamic shape (a few integer ops per call).

All functions take the ``tf`` module as their first argument, like the builder's, so
that importing this module never imports TensorFlow.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler.convert import ops

MASKED = -100.0
"""What the Swin mask adds to the logits of pixel pairs the roll brought together from
opposite edges (the original's value: exp(-100) vanishes against the other terms)."""


def relative_position_index(window: int) -> npt.NDArray[np.int32]:
    """``[window², window²]``: the bias-table row for each (query, key) pair of a window,
    numbering the offset ``(dy, dx)`` as ``(dy + w - 1)·(2w - 1) + (dx + w - 1)``
    (Swin Transformer's numbering, which the checkpoints' tables follow)."""
    rows, cols = np.meshgrid(np.arange(window), np.arange(window), indexing="ij")
    y, x = rows.reshape(-1), cols.reshape(-1)
    dy = y[:, None] - y[None, :] + window - 1
    dx = x[:, None] - x[None, :] + window - 1
    return (dy * (2 * window - 1) + dx).astype(np.int32)


def overlap_position_index(window: int, overlap: int) -> npt.NDArray[np.int32]:
    """``[window², overlap²]``: HAT's numbering of the offset between a query of the
    window and a key of the overlapping window around it: key minus query (in the
    overlapping window's and the window's own coordinates), plus ``window - overlap + 1``
    on each axis, rows of ``window + overlap - 1``. That shift does not make every offset
    non-negative (HAT's ``calculate_rpi_oca``); PyTorch indexing wraps negative rows to
    the end of the table, and the trained tables were learned with that wrap, so the
    index is taken modulo the table's length to read the same rows."""
    qr, qc = np.meshgrid(np.arange(window), np.arange(window), indexing="ij")
    kr, kc = np.meshgrid(np.arange(overlap), np.arange(overlap), indexing="ij")
    qy, qx = qr.reshape(-1), qc.reshape(-1)
    ky, kx = kr.reshape(-1), kc.reshape(-1)
    dy = ky[None, :] - qy[:, None] + window - overlap + 1
    dx = kx[None, :] - qx[:, None] + window - overlap + 1
    index = dy * (window + overlap - 1) + dx
    return np.mod(index, (window + overlap - 1) ** 2).astype(np.int32)


def _linear(tf: Any, x: Any, kernel: Any, bias: Any) -> Any:
    """Per-pixel ``x @ kernel + bias`` as one 2-D matrix product over all pixels."""
    shape = tf.shape(x)
    flat = tf.linalg.matmul(tf.reshape(x, [-1, kernel.shape[0]]), kernel)
    if bias is not None:
        flat = tf.nn.bias_add(flat, bias)
    return tf.reshape(flat, tf.concat([shape[:-1], [kernel.shape[1]]], axis=0))


def _partition(tf: Any, x: Any, window: int, channels: int) -> Any:
    """``[B, H, W, C]`` → ``[B·(H/w)·(W/w), w², C]``, windows in row-major order."""
    s = tf.shape(x)
    y = tf.reshape(x, [s[0], s[1] // window, window, s[2] // window, window, channels])
    y = tf.transpose(y, [0, 1, 3, 2, 4, 5])
    return tf.reshape(y, [-1, window * window, channels])


def _reverse(tf: Any, windows: Any, window: int, shape: Any, channels: int) -> Any:
    """Inverse of :func:`_partition` for an image of dynamic ``shape``."""
    y = tf.reshape(
        windows, [shape[0], shape[1] // window, shape[2] // window, window, window, channels]
    )
    y = tf.transpose(y, [0, 1, 3, 2, 4, 5])
    return tf.reshape(y, [shape[0], shape[1], shape[2], channels])


def _heads(tf: Any, tokens: Any, heads: int, channels: int) -> Any:
    """``[B', N, C]`` → ``[B', heads, N, C/heads]``."""
    s = tf.shape(tokens)
    y = tf.reshape(tokens, [s[0], s[1], heads, channels // heads])
    return tf.transpose(y, [0, 2, 1, 3])


def _merge_heads(tf: Any, y: Any, channels: int) -> Any:
    """``[B', heads, N, d]`` → ``[B', N, heads·d]``."""
    s = tf.shape(y)
    return tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [s[0], s[2], channels])


def _position_bias(tf: Any, table: Any, index: npt.NDArray[np.int32]) -> Any:
    """``[heads, N, M]`` from the learned table and the constant index."""
    n, m = index.shape
    bias = tf.gather(table, tf.constant(index.reshape(-1)))
    return tf.transpose(tf.reshape(bias, [n, m, -1]), [2, 0, 1])


def _shift_mask(tf: Any, height: Any, width: Any, window: int, shift: int) -> Any:
    """``[nW, w², w²]``: 0 where two pixels of a shifted window come from the same region
    of the rolled map, :data:`MASKED` where the roll brought them from opposite edges.

    The regions along each axis of size ``n`` are ``[0, n-w)``, ``[n-w, n-shift)`` and
    ``[n-shift, n)`` (the Swin original's three slices), computed from the dynamic size.
    """

    def regions(n: Any) -> Any:
        i = tf.range(n)
        return tf.where(i < n - window, 0, tf.where(i < n - shift, 1, 2))

    ids = regions(height)[:, None] * 3 + regions(width)[None, :]
    ids = tf.reshape(ids, [height // window, window, width // window, window])
    ids = tf.reshape(tf.transpose(ids, [0, 2, 1, 3]), [-1, window * window])
    differ = tf.not_equal(ids[:, :, None], ids[:, None, :])
    return tf.where(differ, MASKED, 0.0)


def _attend(tf: Any, q: Any, k: Any, v: Any, *, scale: float, bias: Any) -> Any:
    """softmax(q·scale @ kᵀ + bias) @ v, in the original's order of operations."""
    logits = tf.linalg.matmul(q * tf.cast(scale, q.dtype), k, transpose_b=True) + bias
    return tf.linalg.matmul(tf.nn.softmax(logits, axis=-1), v)


def build_layer_norm(tf: Any, op: ops.LayerNorm, inputs: list[Any], w: dict[str, Any]) -> Any:
    x = inputs[0]
    mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
    eps = tf.cast(op.eps, x.dtype)
    return (x - mean) * tf.math.rsqrt(variance + eps) * w["weight"] + w["bias"]


def build_window_attention(
    tf: Any, op: ops.WindowAttention, inputs: list[Any], w: dict[str, Any]
) -> Any:
    x = inputs[0]
    c, win, heads, shift = op.channels, op.window, op.heads, op.shift
    scale = op.scale if op.scale is not None else (c // heads) ** -0.5
    shape = tf.shape(x)
    if shift:
        x = tf.roll(x, shift=[-shift, -shift], axis=[1, 2])
    windows = _partition(tf, x, win, c)
    qkv = _linear(tf, windows, w["qkv_kernel"], w.get("qkv_bias"))
    q, k, v = (_heads(tf, part, heads, c) for part in tf.split(qkv, 3, axis=-1))
    bias = _position_bias(tf, w["bias_table"], relative_position_index(win))[tf.newaxis]
    if shift:
        n = win * win
        mask = tf.cast(_shift_mask(tf, shape[1], shape[2], win, shift), x.dtype)
        per_image = tf.reshape(bias, [1, 1, heads, n, n]) + mask[tf.newaxis, :, tf.newaxis]
        bias = tf.reshape(
            tf.broadcast_to(per_image, tf.stack([shape[0], tf.shape(mask)[0], heads, n, n])),
            [-1, heads, n, n],
        )
    out = _merge_heads(tf, _attend(tf, q, k, v, scale=scale, bias=bias), c)
    out = _linear(tf, out, w["proj_kernel"], w.get("proj_bias"))
    y = _reverse(tf, out, win, shape, c)
    if shift:
        y = tf.roll(y, shift=[shift, shift], axis=[1, 2])
    return y


def build_overlap_attention(
    tf: Any, op: ops.OverlapAttention, inputs: list[Any], w: dict[str, Any]
) -> Any:
    x = inputs[0]
    c, win, big, heads = op.channels, op.window, op.overlap, op.heads
    scale = op.scale if op.scale is not None else (c // heads) ** -0.5
    shape = tf.shape(x)
    qkv = _linear(tf, x, w["qkv_kernel"], w.get("qkv_bias"))
    q = _heads(tf, _partition(tf, qkv[..., :c], win, c), heads, c)
    pad = (big - win) // 2
    kv = tf.pad(qkv[..., c:], [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    patches = tf.image.extract_patches(
        kv, sizes=[1, big, big, 1], strides=[1, win, win, 1], rates=[1, 1, 1, 1], padding="VALID"
    )
    patches = tf.reshape(patches, [-1, big * big, 2 * c])
    k = _heads(tf, patches[..., :c], heads, c)
    v = _heads(tf, patches[..., c:], heads, c)
    bias = _position_bias(tf, w["bias_table"], overlap_position_index(win, big))[tf.newaxis]
    out = _merge_heads(tf, _attend(tf, q, k, v, scale=scale, bias=bias), c)
    y = _reverse(tf, out, win, shape, c)
    return _linear(tf, y, w["proj_kernel"], w.get("proj_bias"))
