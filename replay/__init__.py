"""Offline replay simulation of the PRELUDE protocol (Gao et al., arXiv 2404.15269).

Drives the same learners and store in-process to compare learners on simulated
users. The simulation itself is built in a later change; this package exists
so the layout in DESIGN.md is in place and installable.
"""
