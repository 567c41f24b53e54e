#!/bin/sh
# An entrypoint script that runs the app without exec: sh stays its parent.
echo "starting the app"
python3 /app/app.py
echo "the app exited with $?"
