"""Moving pictures: animated images (GIF, APNG, WebP) and video files, frame by frame.

This layer knows containers, codecs, timing and resumable state; it never picks or runs
a model. The facade hands it a :data:`~upscaler.media.frames.FrameUpscaler` (one frame's
pixels in, the upscaled pixels out, through the same tiled runner as still images), so
everything a still image gets (tiling, adapters, alpha, 16-bit) a frame gets too.
"""
