"""Any prepared dataset, as the stages read it (prepared.py; every image through images.py), and
the sources that prepare a real one (sources/); the embedded aviary is built by selfsynth/world."""
