"""Any prepared dataset, as the stages read it (prepared.py), and the sources that prepare a real
one (sources/); the embedded aviary is built by selfsynth/world."""
