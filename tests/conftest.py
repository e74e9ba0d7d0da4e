"""Shared test setup: smoke mode and no hub, whatever the machine, so tests never download."""

import os

os.environ.setdefault("FTCOURSE_MODE", "smoke")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")
