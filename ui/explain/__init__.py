"""The Explain page: inspect one model window (probabilities, Grad-CAM) or classify one image file."""
