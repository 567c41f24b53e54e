"""An app that serves until SIGTERM, then runs its ``finally`` block (and prints ``finally ran``)."""

import signal
import sys


def main():
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        print("serving", flush=True)
        while True:
            signal.pause()
    finally:
        print("finally ran", flush=True)


if __name__ == "__main__":
    main()
