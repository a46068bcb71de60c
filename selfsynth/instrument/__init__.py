"""Whether the embedded study can test the paper's claims at all: measured from the testbed, never
from a method's score (docs/verdict.md, "The instrument")."""
