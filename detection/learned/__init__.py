"""The learned scorer's parts: its features (one module for training and serving), its
model file, training, model card and `fraudgraph model` command. The detector that
serves it is detection/detectors/learned_risk.py; the model, detection/models/."""
