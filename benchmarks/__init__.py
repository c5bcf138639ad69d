"""hivesim's performance figures P1-P4 (issue 8), P6 and P7 (issue 17), run by ``hivesim bench``.

Each module measures one figure as a *ratio of two things timed side by side in the same run*
(this machine is shared and noisy), takes the median of several runs and returns a dict
``{"value", "target", "pass", ...details}``. ``suite.run`` runs them all; docs/performance.md
explains what each figure means and what limits it.
"""
