"""Inverse Constitutional AI (Findeis et al., arXiv 2406.06560): constitutions of
principles from pairwise preferences, their prompts, the CSV format and the job."""
