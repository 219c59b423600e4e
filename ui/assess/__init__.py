"""The Assess page: sampling design, labelling, an existing reference, and the analysis (Olofsson et al. 2014)."""
