"""One home per paper step, each named as its DVC stage (docs/method.md): concepts (0), describe
(1.1), select (1.2), synthesize (1.3), generate (2.5), reject (2.6), evaluate. stages/<name>.py reads
params, calls these and writes the outputs."""
