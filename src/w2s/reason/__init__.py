"""Progressive weak-to-strong reasoning: Stage I consistency SFT, Stage II contrastive DPO/ORPO."""
