"""The embedded synthetic aviary only: its attributes, species, drawings and texts; any other
dataset lives in selfsynth/dataset."""
