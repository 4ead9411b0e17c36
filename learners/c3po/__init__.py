"""C3PO per-user LoRA adapters (Stephan et al., arXiv 2402.10893): data sets from a
user's feedback and edits, DPO + SFT training, evaluation, export and the job."""
