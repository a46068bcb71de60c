"""The paper's Table 1 (Shi et al., ICLR 2025), printed beside ours for reference — never compared
number to number: a 7B LLaVA on CUB is not a 0.6M-parameter model on a synthetic aviary."""
from .tables import md_table

PAPER_TABLE1 = [
    # dataset, base, NL r4, L+GE r4, ours r1..r4, ours EE / CS / FS, w/o filter r4
    ("CUB-200", 2.69, 82.21, 73.06, (80.24, 83.76, 84.69, 85.02), "1.00 / 0.82 / 6.53", 70.45),
    ("Stanford Dogs", 12.2, 84.27, 76.55, (85.29, 86.75, 86.86, 86.91), "1.00 / 0.86 / 7.41", 78.26),
    ("FGVC-Aircraft", 3.00, 87.73, 82.69, (88.78, 90.91, 91.42, 91.99), "1.00 / 0.79 / 7.00", 76.78),
    ("PLD", 0.00, 93.95, 24.90, (75.96, 92.80, 96.59, 97.16), "1.00 / 0.86 / 9.01", 62.59),
    ("HAM10000", 1.62, 81.71, 8.45, (79.37, 82.29, 83.69, 85.06), "1.00 / 0.87 / 7.43", 72.29),
    ("Chest X-ray (LLaVA-Med)", 62.50, 89.58, 62.66, (97.60, 96.31, 99.04, 98.72), "1.00 / 0.87 / 8.25", None),
]


def paper_table_markdown() -> str:
    return md_table(["dataset", "base", "NL r4", "L+GE r4", "ours r1 → r4", "ours EE / CS / FS", "w/o filter r4"],
                    ([name, f"{base:.2f}", f"{nl:.2f}", f"{lge:.2f}", ", ".join(f"{x:.2f}" for x in ours), ecf,
                      "—" if nofilter is None else f"{nofilter:.2f}"]
                     for name, base, nl, lge, ours, ecf, nofilter in PAPER_TABLE1))
