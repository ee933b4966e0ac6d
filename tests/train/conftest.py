"""Training tests run TensorFlow on one thread (the machine is shared)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
