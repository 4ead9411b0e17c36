"""Everything that turns users' edits and feedback into preferences.

Learners implement one small interface (``learners.base.Learner``) and are
registered by name in ``learners.registry``. The engine (``learners.core.engine``)
runs them on every interaction and feedback, stores what they learn, indexes
contexts, and builds policies (``learners.core.policy``). Research implemented here
and in later modules: PRELUDE/CIPHER (Gao et al., arXiv 2404.15269).
"""
