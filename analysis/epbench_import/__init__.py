"""Importers of expert-routing recordings made by inference engines into epbench's formats.

    PYTHONPATH=analysis /usr/bin/python3 -m epbench_import sglang DUMP.pt [...] --model M -o OUT

`sglang`: SGLang's expert-distribution recorder dumps (epbench_import.sglang): `stat`,
`stat_approx` and `per_pass` dumps become an epbench load file (JSON, epbench_import.loads),
`per_token` dumps an epbench trace (HDF5, epbench_moe.trace_writer).
"""


class InputError(Exception):
    """Bad input: one line 'FILE: FIELD: expected ..., got ...' (the C++ readers' wording),
    printed as 'epbench_import: error: ...' with exit status 2."""
