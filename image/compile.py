"""Compile the reaper's modules for the image: usage: python3 image/compile.py DIRECTORY

The bytecode is what -OO gives (no docstrings, which halves its size), saved
under the plain .pyc name that an interpreter started without -O reads. The
launcher therefore needs no -O flag: with one, the interpreter looks for
optimised bytecode of its own standard library, which Debian's python3 does
not ship, and compiles it again at every start (measured: +4.5 ms).
The files are unchecked-hash pycs: loaded without a look at the source,
which the image never changes.
"""

import glob
import importlib.util
import py_compile
import sys

for source in glob.glob(f"{sys.argv[1]}/**/*.py", recursive=True):
    py_compile.compile(
        source,
        cfile=importlib.util.cache_from_source(source),
        doraise=True,
        optimize=2,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
