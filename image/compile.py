"""Replace the reaper's sources under DIRECTORY by their bytecode: python3 image/compile.py DIRECTORY

What ships in the image is sourceless bytecode (module.pyc beside where
module.py was), compiled as -OO compiles (no docstrings) and without line
tables (no line numbers nor columns) nor qualified names: about a third of the bytes of source
plus bytecode, which keeps the image within its 64 KiB budget on every
Python version; the source is in the repository.  The reaper never prints a
traceback by design (every error is one line), so a traceback without line
numbers is the price of a bug only.  The launcher still needs no -O flag:
the interpreter reads sourceless .pyc files whatever its optimisation
level, while with -O it would also look for optimised bytecode of its own
standard library, which Debian's python3 does not ship, and compile that
again at every start (measured: +4.5 ms).
"""

import glob
import importlib.util
import marshal
import os
import sys


def without_line_tables(code):
    """Return ``code`` and every code object in its constants without their line table, file name and
    qualified name (a bare name instead): none serves but a repr, a warning or a traceback."""
    constants = tuple(without_line_tables(item) if hasattr(item, "co_code") else item for item in code.co_consts)
    return code.replace(co_linetable=b"", co_consts=constants, co_qualname=code.co_name, co_filename="")


for source in glob.glob(f"{sys.argv[1]}/**/*.py", recursive=True):
    with open(source, "rb") as file:
        code = compile(file.read(), source, "exec", optimize=2, dont_inherit=True)
    # PEP 552's header: the magic number, flags 0 (a timestamp pyc), then a timestamp and a size that a
    # sourceless module never checks.
    header = importlib.util.MAGIC_NUMBER + bytes(12)
    with open(source + "c", "wb") as file:
        file.write(header + marshal.dumps(without_line_tables(code)))
    os.remove(source)
